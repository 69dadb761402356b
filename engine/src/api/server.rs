//! The accept loop: HTTP/1.1 and HTTP/2 cleartext on one port, a bound on open connections,
//! and the graceful drain on shutdown (stop accepting, let open requests and running
//! auctions finish, give up after the grace period).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::App;
use crate::transport::Transport;

/// Open connections at most; past it, accepting waits (the kernel backlog queues).
const MAX_CONNECTIONS: usize = 10_000;

/// A client must send its request headers within this time (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then drains within `grace`.
pub async fn serve<T: Transport>(
    app: Arc<App<T>>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).keep_alive(true);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(1024);
    let builder = Arc::new(builder);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = service_fn(move |request| Arc::clone(&app).route(request));
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(connection.into_owned()).await;
            drop(permit);
        });
    }
    app.health.set_draining();
    drop(listener);
    let tasks = app.intake.tasks.clone();
    tasks.close();
    let drained = tokio::time::timeout(grace, async {
        graceful.shutdown().await;
        tasks.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(grace_ms = grace.as_millis() as u64, "shutdown grace period over; dropping what is left");
    }
    Ok(())
}
