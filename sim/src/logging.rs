//! Log lines for people: `tracing` output on stderr, each line stamped with
//! simulated time and the host that wrote it, e.g.
//! `[  12.345s gw-aws-us-east-1-0] DEBUG models::gateway::ingress: accepted ...`.
//!
//! Wall-clock stamps would be useless here: a whole run takes seconds of
//! wall time and the interesting times are the simulated ones the
//! observation log and the failure report use too. turmoil enters a span
//! `node{name=...}` around every tick of a host, so a layer remembers the
//! innermost such span per thread; the time is the run loop's clock, the
//! one that stamps the observation log (see [`set_run_clock_us`]), so a
//! log line and the events it explains carry the same time. RUST_LOG filters as usual; the default is
//! warnings only, so normal output is unchanged.
//!
//! Logs are never part of the digest: they are for reading, not judging.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::IsTerminal;
use std::rc::Rc;

use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber, span};
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, filter_fn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The host name written for lines outside any host (the run loop, the CLI).
pub const WORLD: &str = "world";

thread_local! {
    /// Host names seen so far, so entering a host's span never allocates.
    static INTERNED: RefCell<Vec<Rc<str>>> = const { RefCell::new(Vec::new()) };
    /// Live turmoil `node` spans on this thread: (span id, host name).
    static NODE_SPANS: RefCell<Vec<(u64, Rc<str>)>> = const { RefCell::new(Vec::new()) };
    /// Hosts whose span is entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<Rc<str>>> = const { RefCell::new(Vec::new()) };
    /// The observation log's clock for the run on this thread.
    static RUN_CLOCK_US: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Sets the simulated time that stamps this thread's lines (the observer
/// calls it whenever the run loop moves the log's clock).
pub fn set_run_clock_us(now_us: u64) {
    RUN_CLOCK_US.with(|t| t.set(Some(now_us)));
}

/// Forgets the world time, once a run is over.
pub fn clear_run_clock() {
    RUN_CLOCK_US.with(|t| t.set(None));
}

/// Installs the stderr logger, filtered by RUST_LOG (default `warn`). An
/// unparsable RUST_LOG directive is skipped with a note, never fatal. Call
/// once, from `main`; a second call does nothing.
pub fn init() {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .from_env_lossy();
    // madsim warns at every runtime it builds that std's HashMap keys were
    // seeded before it could seed them. Only madsim's own internals use
    // HashMap here (lookups; no order that decides anything), and our
    // digests check determinism, so the line is noise.
    #[cfg(madsim)]
    let filter = match "madsim::sim::rand=error".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    // turmoil creates and enters a `node` span per host per tick. Tracking
    // them is what names the host on a line, and it costs about a tenth of a
    // run's CPU (perf, seed 1), so only pay for it when lines below WARN may
    // be written: our own code logs nothing at WARN or above.
    let verbose = filter
        .max_level_hint()
        .is_none_or(|level| level > LevelFilter::WARN);
    // Two subscribers rather than an `Option` layer: a `None` layer answers
    // "always" for every callsite, which makes the registry create and
    // enter every engine span again.
    let _ = if verbose {
        tracing_subscriber::registry()
            .with(HostSpans.with_filter(filter_fn(is_turmoil_node_span)))
            .with(line_layer(filter))
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(line_layer(filter))
            .try_init()
    };
}

/// The layer that writes lines to stderr, stamped by [`SimTimeFormat`].
fn line_layer<S>(filter: EnvFilter) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // Colour only for a person at a terminal; logs saved by CI stay plain.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    // madsim opens a span per task and per node; formatting and storing
    // them costs the madsim engine about 40% of its time, and our lines
    // never show them. Kept unless RUST_LOG names madsim.
    let wants_madsim = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("madsim"));
    let no_madsim_spans =
        filter_fn(move |m| wants_madsim || !(m.is_span() && m.target().starts_with("madsim")));
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .event_format(SimTimeFormat)
        .with_filter(filter.and(no_madsim_spans))
}

/// turmoil's per-host span (`node{name=...}`, entered around each tick).
fn is_turmoil_node_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && metadata.name() == "node" && metadata.target().starts_with("turmoil")
}

/// Remembers which host's tick is running on this thread. turmoil creates
/// and enters a span per host per tick, so this runs thousands of times a
/// simulated second: names are interned and kept in short thread-local
/// lists instead of span extensions, which allocate. A thread-local rather
/// than the formatter's span scope, because RUST_LOG may filter turmoil's
/// spans out of the line formatter's view (`RUST_LOG=models=debug`) and the
/// host must still be named.
pub struct HostSpans;

impl<S: Subscriber> Layer<S> for HostSpans {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, _ctx: Context<'_, S>) {
        let mut visitor = NameField(None);
        attrs.record(&mut visitor);
        if let Some(name) = visitor.0 {
            NODE_SPANS.with(|spans| spans.borrow_mut().push((id.into_u64(), name)));
        }
    }

    fn on_enter(&self, id: &span::Id, _ctx: Context<'_, S>) {
        if let Some(name) = node_span_name(id) {
            ENTERED.with(|entered| entered.borrow_mut().push(name));
        }
    }

    fn on_exit(&self, id: &span::Id, _ctx: Context<'_, S>) {
        if node_span_name(id).is_some() {
            ENTERED.with(|entered| entered.borrow_mut().pop());
        }
    }

    fn on_close(&self, id: span::Id, _ctx: Context<'_, S>) {
        let id = id.into_u64();
        NODE_SPANS.with(|spans| spans.borrow_mut().retain(|(live, _)| *live != id));
    }
}

fn node_span_name(id: &span::Id) -> Option<Rc<str>> {
    let id = id.into_u64();
    NODE_SPANS.with(|spans| {
        spans
            .borrow()
            .iter()
            .rev()
            .find(|(live, _)| *live == id)
            .map(|(_, name)| name.clone())
    })
}

/// For engines without a span per host (madsim): the host's interned name,
/// to hand to [`enter_host`] around each poll of that host's tasks.
pub fn host_name(name: &str) -> Rc<str> {
    intern(name)
}

/// Names `host` as the one running on this thread until [`exit_host`].
pub fn enter_host(host: &Rc<str>) {
    ENTERED.with(|entered| entered.borrow_mut().push(host.clone()));
}

/// Ends the innermost [`enter_host`].
pub fn exit_host() {
    ENTERED.with(|entered| {
        entered.borrow_mut().pop();
    });
}

/// The same `Rc<str>` for the same name, every time.
fn intern(name: &str) -> Rc<str> {
    INTERNED.with(|interned| {
        let mut interned = interned.borrow_mut();
        if let Some(known) = interned.iter().find(|known| &***known == name) {
            return known.clone();
        }
        let fresh: Rc<str> = Rc::from(name);
        interned.push(fresh.clone());
        fresh
    })
}

struct NameField(Option<Rc<str>>);

impl Visit for NameField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(intern(value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "name" && self.0.is_none() {
            self.0 = Some(intern(format!("{value:?}").trim_matches('"')));
        }
    }
}

/// The host whose tick is running on this thread, or [`WORLD`].
pub fn current_host() -> String {
    ENTERED
        .with(|entered| entered.borrow().last().map(|name| name.to_string()))
        .unwrap_or_else(|| WORLD.to_string())
}

/// Simulated time for this line: madsim's clock inside a madsim run (the
/// one its observation log reads), else the run's clock as the observation
/// log stamps it (so a log line and the events of the same step show the
/// same time), else the host's own turmoil clock; None outside any run.
fn current_time_us() -> Option<u64> {
    #[cfg(madsim)]
    if let Some(time) = madsim::time::TimeHandle::try_current() {
        return Some(time.elapsed().as_micros() as u64);
    }
    RUN_CLOCK_US
        .with(Cell::get)
        .or_else(|| turmoil::sim_elapsed().map(|elapsed| elapsed.as_micros() as u64))
}

/// `[  12.345s host]`: seconds with milliseconds, right-aligned so columns
/// line up for runs under three hours; `-` when no run is going on.
pub fn prefix(time_us: Option<u64>, host: &str) -> String {
    match time_us {
        Some(us) => format!(
            "[{:>4}.{:03}s {host}]",
            us / 1_000_000,
            (us / 1_000) % 1_000
        ),
        None => format!("[{:>9} {host}]", "-"),
    }
}

/// Formats one line: prefix, level, target, then the event's fields.
pub struct SimTimeFormat;

impl<S, N> FormatEvent<S, N> for SimTimeFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        write!(
            writer,
            "{} {:>5} {}: ",
            prefix(current_time_us(), &current_host()),
            metadata.level(),
            metadata.target()
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_shows_simulated_seconds_with_milliseconds_and_the_host() {
        assert_eq!(
            prefix(Some(12_345_678), "gw-aws-us-east-1-0"),
            "[  12.345s gw-aws-us-east-1-0]"
        );
        assert_eq!(prefix(Some(0), "world"), "[   0.000s world]");
        assert_eq!(prefix(None, "world"), "[        - world]");
    }

    #[test]
    fn outside_any_host_the_line_belongs_to_the_world() {
        assert_eq!(current_host(), WORLD);
    }
}
