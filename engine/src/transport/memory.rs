//! In-process buyers: a [`Transport`] that answers every exchange with a function of it, at
//! once, with no socket. Benches use it to measure the engine alone; tests use it where a real
//! socket adds nothing.

use std::future::{Future, ready};

use super::{Exchange, Reply, Transport, TransportError};

/// Buyers answering through `answer`.
#[derive(Debug, Clone)]
pub struct MemoryTransport<F> {
    answer: F,
}

impl<F> MemoryTransport<F>
where
    F: Fn(&Exchange) -> Reply + Send + Sync + 'static,
{
    /// Buyers whose answer to each exchange is `answer(exchange)`.
    pub fn new(answer: F) -> MemoryTransport<F> {
        MemoryTransport { answer }
    }
}

impl<F> Transport for MemoryTransport<F>
where
    F: Fn(&Exchange) -> Reply + Send + Sync + 'static,
{
    fn exchange(&self, exchange: Exchange) -> impl Future<Output = Result<Reply, TransportError>> + Send + 'static {
        ready(Ok((self.answer)(&exchange)))
    }
}
