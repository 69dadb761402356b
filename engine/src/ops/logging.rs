//! Logging: structured lines through `tracing` to a non-blocking writer, so a full buffer
//! drops lines rather than stalling an auction.

/// Installs the global subscriber (`RUST_LOG` filters; `json` for machine-readable lines).
/// Keep the guard alive: dropping it flushes and stops the writer.
pub fn init(json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    // Fails only if a subscriber is already set (tests, embedding): keep that one.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
    guard
}
