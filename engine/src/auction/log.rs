//! The auction log: a task that turns finished auction records into one line each, off the
//! hot path (auctions hand records over with `try_send` and never wait). Contact data is never
//! logged: the line is built from ids, prices, counts and timings only.

use tokio::sync::mpsc;

use super::record::{Finished, PingResult};

/// Finished auctions waiting to be logged; a burst beyond this is dropped (and counted)
/// instead of slowing auctions.
pub const RECORD_QUEUE: usize = 65_536;

/// Logs each finished auction until the sending side closes.
pub async fn auction_log(mut records: mpsc::Receiver<Finished>) {
    while let Some((publisher, record)) = records.recv().await {
        let count = |f: fn(&PingResult) -> bool| record.pings.iter().filter(|p| f(&p.result)).count();
        let answer = record.answer();
        tracing::info!(
            target: "auction",
            lead_id = %record.lead_id,
            publisher = %publisher,
            outcome = answer.outcome.as_str(),
            buyer = answer.buyer_id.as_deref().unwrap_or(""),
            price = %answer.price.map(|p| p.to_string()).unwrap_or_default(),
            pinged = record.pings.len(),
            bids = count(|r| matches!(r, PingResult::Bid { .. })),
            timeouts = count(|r| matches!(r, PingResult::Timeout)),
            invalid = count(|r| matches!(r, PingResult::Invalid(_))),
            posts = record.posts.len(),
            ping_ms = answer.timings_ms.ping,
            post_ms = answer.timings_ms.post,
            total_ms = answer.timings_ms.total,
            "auction"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use bytes::Bytes;
    use parking_lot::Mutex;

    use super::*;
    use crate::auction::{Auctioneer, Offer, Settings};
    use crate::buyers::Registry;
    use crate::config::Config;
    use crate::transport::{ExchangeKind, MemoryTransport, Reply};

    /// A log writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// No PII in a log line: the auction log of a sold lead names ids, prices and timings only.
    #[test]
    fn auction_log_lines_carry_no_contact_data() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).json().finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let config = Config::from_toml(
            "[[buyers]]\nid = \"acme\"\nping_url = \"http://127.0.0.1:9/p\"\npost_url = \"http://127.0.0.1:9/q\"\nverticals = [\"auto_insurance\"]\n",
        )
        .expect("config");
        let transport = MemoryTransport::new(|exchange: &crate::transport::Exchange| Reply {
            status: 200,
            body: match exchange.kind {
                ExchangeKind::Ping => Bytes::from_static(br#"{"bid":true,"price":"7.25","bid_id":"b1"}"#),
                ExchangeKind::Post => Bytes::from_static(br#"{"accepted":true}"#),
            },
        });
        let lead = crate::api::validate::lead(
            br#"{"vertical":"auto_insurance","attributes":{"zip":"98004","state":"WA"},
                "contact":{"first_name":"Zebulon","last_name":"Quixote","email":"zq@example.org","phone":"+12065550199",
                           "address":"77 Secret Lane","city":"Hiddenville"},
                "consent":{"ip":"198.51.100.23"}}"#,
        )
        .expect("valid lead");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let settings = Settings::from_config(&Default::default());
            let auctioneer = Auctioneer::new(transport, settings);
            let registry = std::sync::Arc::new(Registry::from_config(&config));
            let record =
                auctioneer.run(&registry, &lead, "ld_test".into(), tokio::time::Instant::now(), Offer::default()).await;
            let (tx, rx) = mpsc::channel(1);
            tx.send(("pub1".into(), record)).await.expect("queued");
            drop(tx);
            auction_log(rx).await;
        });
        let text = String::from_utf8(captured.0.lock().clone()).expect("utf-8");
        assert!(text.contains("ld_test") && text.contains("\"sold\"") && text.contains("7.25"), "{text}");
        for pii in ["Zebulon", "Quixote", "zq@example.org", "2065550199", "Secret Lane", "Hiddenville", "198.51.100.23"]
        {
            assert!(!text.contains(pii), "log carries {pii}: {text}");
        }
    }
}
