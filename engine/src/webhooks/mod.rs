//! Webhook delivery (being written): the dispatcher over the store's outbox, retries, the
//! circuit breaker, payload shaping, and the SSRF guard.

pub mod ssrf;
