//! A TCP connection that can end in a reset. The `reset` fault must close an HTTP/1.1
//! connection without an answer the way a crashed buyer does: with a TCP RST, not a polite
//! FIN. hyper owns the socket while it serves, so the request handler arms a shared switch,
//! makes hyper drop the connection (by failing the request), and the socket, when dropped,
//! sets `SO_LINGER` to zero first: the kernel then sends RST instead of FIN.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that resets on drop once its switch is armed.
#[derive(Debug)]
pub struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

/// Arms the reset of one connection.
#[derive(Debug, Clone)]
pub struct ResetSwitch(Arc<AtomicBool>);

impl ResetSwitch {
    /// The connection will be reset when it is dropped.
    pub fn arm(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl ResettableStream {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream) -> (ResettableStream, ResetSwitch) {
        let reset = Arc::new(AtomicBool::new(false));
        (ResettableStream { stream, reset: Arc::clone(&reset) }, ResetSwitch(reset))
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            // Best effort: if it fails, the peer sees a plain close, still without an answer.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
