//! Bodies in and out. In: a request body read under a size limit and a time limit. Out:
//! [`SimBody`], either whole or trickled one byte at a time with a pause between bytes (the
//! `trickle` fault), without boxing the common case.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// Largest ping or post the simulator reads (413 above): a real ping is under 1 KiB and a
/// post a few KiB, so this only stops runaway bodies.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A client must finish sending its body within this time (a body that never ends would
/// otherwise hold its task forever).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// Over [`MAX_REQUEST_BYTES`].
    TooLarge,
    /// The connection failed or the body did not arrive in time.
    Unreadable,
}

/// Reads a whole request body of at most [`MAX_REQUEST_BYTES`].
pub async fn read(headers: &HeaderMap, body: Incoming) -> Result<Bytes, ReadError> {
    let declared = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_REQUEST_BYTES as u64) {
        return Err(ReadError::TooLarge);
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, MAX_REQUEST_BYTES).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(ReadError::TooLarge),
        Ok(Err(_)) | Err(_) => Err(ReadError::Unreadable),
    }
}

/// A response body.
#[derive(Debug)]
pub enum SimBody {
    /// The whole body at once (`None` once sent).
    Full(Option<Bytes>),
    /// One byte at a time.
    Trickle(Box<Trickle>),
}

/// The rest of a trickled body and the timer for its next byte.
#[derive(Debug)]
pub struct Trickle {
    rest: Bytes,
    pause: Duration,
    next: Pin<Box<Sleep>>,
}

impl SimBody {
    /// A whole body.
    pub fn full(bytes: impl Into<Bytes>) -> SimBody {
        SimBody::Full(Some(bytes.into()))
    }

    /// `bytes`, the first at once, then one every `pause`.
    pub fn trickle(bytes: Bytes, pause: Duration) -> SimBody {
        SimBody::Trickle(Box::new(Trickle { rest: bytes, pause, next: Box::pin(tokio::time::sleep(Duration::ZERO)) }))
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            SimBody::Full(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            SimBody::Trickle(trickle) => {
                if trickle.rest.is_empty() {
                    return Poll::Ready(None);
                }
                ready!(trickle.next.as_mut().poll(cx));
                let byte = trickle.rest.split_to(1);
                let at = Instant::now() + trickle.pause;
                trickle.next.as_mut().reset(at);
                Poll::Ready(Some(Ok(Frame::data(byte))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SimBody::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            SimBody::Trickle(trickle) => trickle.rest.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let len = match self {
            SimBody::Full(bytes) => bytes.as_ref().map_or(0, Bytes::len),
            SimBody::Trickle(trickle) => trickle.rest.len(),
        };
        SizeHint::with_exact(len as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_trickle_sends_one_byte_per_pause() {
        let start = Instant::now();
        let mut body = SimBody::trickle(Bytes::from_static(b"abcd"), Duration::from_millis(10));
        assert_eq!(body.size_hint().exact(), Some(4));
        let mut seen = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else { continue };
            seen.push((data, start.elapsed()));
        }
        let bytes: Vec<u8> = seen.iter().flat_map(|(b, _)| b.to_vec()).collect();
        assert_eq!(bytes, b"abcd");
        let times: Vec<u128> = seen.iter().map(|(_, at)| at.as_millis()).collect();
        assert_eq!(times, [0, 10, 20, 30]);
    }

    #[tokio::test]
    async fn a_full_body_is_one_frame() {
        let mut body = SimBody::full(Bytes::from_static(b"{}"));
        assert!(!body.is_end_stream());
        assert!(matches!(body.frame().await, Some(Ok(frame)) if frame.data_ref().is_some_and(|d| d == "{}")));
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    }
}
