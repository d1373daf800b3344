//! The live display of a running call on stderr: the task, its status and `statusMessage`,
//! and progress.
//!
//! At a terminal it is one redrawn line (a spinner, or a bar once the total is known). Anywhere
//! else (a pipe, a CI log) it writes one plain line per *change*, never a redraw, so logs stay
//! short and greppable. MCP 2025-11-25, "Tasks" (status and `statusMessage`) and "Progress"
//! (`notifications/progress`: `progress`, optional `total` and `message`).

use std::io::{IsTerminal as _, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::tty::Tty;

/// How often the spinner turns, so a quiet task still looks alive.
const TICK: Duration = Duration::from_millis(120);

/// Steps of the live bar: progress may be fractional, indicatif counts in integers.
const BAR_STEPS: u64 = 1000;

/// Statuses after which the task does not change, worth a line that stays on screen.
const TERMINAL: [&str; 3] = ["completed", "failed", "cancelled"];

/// The status display of one call. Cheap to call often, and `Send + Sync`: progress and
/// status arrive on tokio tasks while a form may be on screen.
#[derive(Debug)]
pub(crate) struct StatusLine {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    out: Out,
    task: Option<String>,
    status: Option<String>,
    status_message: Option<String>,
    progress: Option<Progress>,
    /// The status line last written (plain) or kept on screen (live), to write only changes.
    last_status: Option<String>,
    /// The progress line last written (plain only).
    last_progress: Option<String>,
    /// How many [`StatusLine::suspend`] calls are running: nothing is drawn while above zero.
    suspended: usize,
    /// Lines to write once the form is gone.
    held: Vec<String>,
    /// [`StatusLine::finish`] was called: the live line does not come back.
    finished: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Progress {
    value: f64,
    total: Option<f64>,
    message: Option<String>,
}

enum Out {
    /// A redrawn line; the bar exists while something is shown, and is rebuilt after a
    /// suspension so that no lock is held while a form is on screen.
    Live {
        bar: Option<ProgressBar>,
        target: Box<dyn Fn() -> ProgressDrawTarget + Send>,
        /// Where a lasting line goes while no bar is on screen: the same terminal.
        screen: Box<dyn Write + Send>,
        /// A copy of each lasting line for the record: stderr, when the live line is on the
        /// controlling terminal because stderr is redirected.
        record: Option<Box<dyn Write + Send>>,
    },
    /// One line per change.
    Plain(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Live { .. } => "Live",
            Self::Plain(_) => "Plain",
        })
    }
}

impl StatusLine {
    /// A display on stderr: redrawn when `live` (stderr is a terminal, see
    /// [`StatusLine::stderr_is_live`]), else one plain line per change.
    pub(crate) fn new(live: bool) -> Self {
        if live {
            Self::with_out(Out::Live {
                bar: None,
                target: Box::new(ProgressDrawTarget::stderr),
                screen: Box::new(std::io::stderr()),
                record: None,
            })
        } else {
            Self::plain(Box::new(std::io::stderr()))
        }
    }

    /// The display of a call the person follows: redrawn on stderr when it is a terminal; when
    /// stderr is redirected but the process has a controlling terminal (`2> err` typed at a
    /// shell), redrawn on that terminal, with the lines that last (the task's id, notes, how it
    /// ended) also written to stderr for the record; else one plain line per change on stderr.
    pub(crate) fn following(tty: Option<&Tty>) -> Self {
        match tty {
            Some(tty) if !Self::stderr_is_live() => {
                let screen = tty.clone();
                Self::with_out(Out::Live {
                    bar: None,
                    target: Box::new(move || {
                        ProgressDrawTarget::term_like(Box::new(screen.screen()))
                    }),
                    screen: Box::new(tty.writer()),
                    record: Some(Box::new(std::io::stderr())),
                })
            }
            _ => Self::new(Self::stderr_is_live()),
        }
    }

    /// Whether stderr is a terminal, the usual argument to [`StatusLine::new`].
    pub(crate) fn stderr_is_live() -> bool {
        std::io::stderr().is_terminal()
    }

    /// A display that writes one plain line per change to `writer`.
    pub(crate) fn plain(writer: Box<dyn Write + Send>) -> Self {
        Self::with_out(Out::Plain(writer))
    }

    fn with_out(out: Out) -> Self {
        Self {
            inner: Mutex::new(Inner {
                out,
                task: None,
                status: None,
                status_message: None,
                progress: None,
                last_status: None,
                last_progress: None,
                suspended: 0,
                held: Vec::new(),
                finished: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is plain data, consistent after any panic: keep showing it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server made the call a task: shows the whole id once (to use with `mcp-tasks
    /// tasks`), and a short one after.
    pub(crate) fn task_created(&self, id: &str, ttl_ms: Option<u64>) {
        let mut inner = self.lock();
        inner.task = Some(id.to_owned());
        let line = match ttl_ms {
            Some(ms) => format!("task {id} created (kept for {})", duration(ms)),
            None => format!("task {id} created"),
        };
        inner.keep(line);
        inner.show_status();
    }

    /// Follows a task created earlier (`tasks result ID`): labels the line with its id.
    pub(crate) fn following_task(&self, id: &str) {
        self.lock().task = Some(id.to_owned());
    }

    /// The task's status (`working`, `input_required`, `completed`, `failed`, `cancelled`)
    /// and its `statusMessage`.
    pub(crate) fn status(&self, status: &str, message: Option<&str>) {
        let mut inner = self.lock();
        inner.status = Some(status.to_owned());
        inner.status_message = message.map(str::to_owned);
        inner.show_status();
    }

    /// A `notifications/progress`: a bar when `total` is known, else a counter.
    pub(crate) fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let mut inner = self.lock();
        inner.progress = Some(Progress {
            value: progress,
            total,
            message: message.map(str::to_owned),
        });
        inner.show_progress();
    }

    /// Runs `f` (a form, say) with the live line hidden, and brings it back after. Updates
    /// that arrive meanwhile are kept and shown after `f`, not drawn over the form; no lock is
    /// held while `f` runs, so they do not wait for it either.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        {
            let mut inner = self.lock();
            inner.suspended += 1;
            inner.hide();
        }
        // Resumes even if `f` panics, so the display is not hidden for good.
        let _resume = Resume(self);
        f()
    }

    /// A line that stays, e.g. "cancelling task …".
    pub(crate) fn note(&self, text: &str) {
        self.lock().keep(text.to_owned());
    }

    /// Clears the live line for good; the caller prints the result next. Lines held back for a
    /// form still on screen (a Ctrl-C while it asks) are written now: nothing comes after.
    pub(crate) fn finish(&self) {
        let mut inner = self.lock();
        inner.finished = true;
        inner.hide();
        inner.suspended = 0;
        for line in std::mem::take(&mut inner.held) {
            inner.keep(line);
        }
        match &mut inner.out {
            Out::Plain(w) => {
                let _ = w.flush();
            }
            Out::Live { record, .. } => {
                if let Some(record) = record {
                    let _ = record.flush();
                }
            }
        }
    }
}

/// Ends one [`StatusLine::suspend`] when dropped.
struct Resume<'a>(&'a StatusLine);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        inner.suspended = inner.suspended.saturating_sub(1);
        if inner.suspended == 0 {
            for line in std::mem::take(&mut inner.held) {
                inner.keep(line);
            }
            inner.show_status();
            inner.show_progress();
        }
    }
}

impl Inner {
    fn status_line(&self) -> String {
        let who = match &self.task {
            Some(id) => format!("task {}", short(id)),
            None => "call".to_owned(),
        };
        let status = match (&self.status, &self.task) {
            (Some(s), _) => s.as_str(),
            (None, Some(_)) => "created",
            (None, None) => "waiting for the server",
        };
        match &self.status_message {
            Some(m) => format!("{who} {status}: {m}"),
            None => format!("{who} {status}"),
        }
    }

    fn progress_line(&self) -> Option<String> {
        let p = self.progress.as_ref()?;
        let count = match p.total {
            Some(total) => format!("{}/{}", number(p.value), number(total)),
            None => number(p.value),
        };
        Some(match &p.message {
            Some(m) => format!("progress {count}: {m}"),
            None => format!("progress {count}"),
        })
    }

    /// A line that stays: above the live line, or as a plain line; held while suspended.
    fn keep(&mut self, line: String) {
        if self.suspended > 0 {
            self.held.push(line);
            return;
        }
        match &mut self.out {
            Out::Live {
                bar,
                screen,
                record,
                ..
            } => {
                match bar {
                    Some(bar) => bar.println(&line),
                    None => {
                        let _ = writeln!(screen, "{line}");
                    }
                }
                if let Some(record) = record {
                    let _ = writeln!(record, "{line}");
                }
            }
            Out::Plain(w) => {
                let _ = writeln!(w, "{line}");
            }
        }
    }

    fn show_status(&mut self) {
        if self.suspended > 0 {
            return;
        }
        if self.status.is_none() && matches!(self.out, Out::Plain(_)) {
            // "created" was just written as a line of its own.
            return;
        }
        let line = self.status_line();
        match self.out {
            Out::Plain(_) => {
                if self.last_status.as_ref() != Some(&line) {
                    self.keep(line.clone());
                    self.last_status = Some(line);
                }
            }
            Out::Live { .. } => {
                let ended = self
                    .status
                    .as_deref()
                    .is_some_and(|s| TERMINAL.contains(&s));
                if ended && self.last_status.as_ref() != Some(&line) {
                    self.keep(line.clone());
                    self.last_status = Some(line);
                }
                self.draw();
            }
        }
    }

    fn show_progress(&mut self) {
        if self.suspended > 0 {
            return;
        }
        match self.out {
            Out::Plain(_) => {
                let line = self.progress_line();
                if line.is_some() && self.last_progress != line {
                    if let Some(l) = &line {
                        self.keep(l.clone());
                    }
                    self.last_progress = line;
                }
            }
            Out::Live { .. } => self.draw(),
        }
    }

    /// Redraws the live line from the state, creating the bar on first use.
    fn draw(&mut self) {
        if self.suspended > 0 || self.finished {
            return;
        }
        let text = match self.progress_line() {
            Some(p) => format!("{} · {p}", self.status_line()),
            None => self.status_line(),
        };
        let ratio = self.progress.as_ref().and_then(|p| {
            p.total
                .filter(|t| *t > 0.0)
                .map(|t| (p.value / t).clamp(0.0, 1.0))
        });
        let Out::Live { bar, target, .. } = &mut self.out else {
            return;
        };
        let fresh = bar.is_none();
        // A new bar is set up off screen, so its first frame is already the current state.
        let bar = bar.get_or_insert_with(|| {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
                .with_style(style(false))
        });
        match ratio {
            Some(r) => {
                if bar.length() != Some(BAR_STEPS) {
                    bar.set_style(style(true));
                    bar.set_length(BAR_STEPS);
                }
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "r is clamped to 0..=1, so the product is in 0..=BAR_STEPS"
                )]
                bar.set_position((r * BAR_STEPS as f64).round() as u64);
            }
            None => {
                if bar.length().is_some() {
                    bar.set_style(style(false));
                    bar.unset_length();
                }
            }
        }
        bar.set_message(text);
        if fresh {
            bar.set_draw_target(target());
            bar.enable_steady_tick(TICK);
        }
    }

    /// Takes the live line off the screen (a plain display has nothing to take off).
    fn hide(&mut self) {
        if let Out::Live { bar, .. } = &mut self.out {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// The live line's look: a spinner, with a bar when the total is known.
fn style(with_bar: bool) -> ProgressStyle {
    let template = if with_bar {
        "{spinner:.cyan} [{bar:20.cyan/blue}] {wide_msg}"
    } else {
        "{spinner:.cyan} {wide_msg}"
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// The first 8 characters of a task id and `…`, for lines after the first.
fn short(id: &str) -> String {
    if id.chars().count() <= 12 {
        return id.to_owned();
    }
    let head: String = id.chars().take(8).collect();
    format!("{head}…")
}

/// A progress number: whole numbers without a fraction, others to two places, so tiny
/// changes do not each make a line.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        let s = format!("{n:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A TTL in the largest unit that divides it.
fn duration(ms: u64) -> String {
    match ms {
        0 => "0 s".to_owned(),
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms if ms < 1000 => format!("{ms} ms"),
        ms => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const _: fn() = || {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<StatusLine>();
    };

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    fn plain() -> (StatusLine, Shared) {
        let out = Shared::default();
        (StatusLine::plain(Box::new(out.clone())), out)
    }

    #[test]
    fn plain_writes_one_line_per_change() {
        let (s, out) = plain();
        s.task_created("1f3a9c2e-0000-4000-8000-000000000000", Some(60_000));
        s.status("working", Some("copying files"));
        s.status("working", Some("copying files"));
        s.progress(1.0, Some(10.0), Some("step 1"));
        s.progress(1.0, Some(10.0), Some("step 1"));
        s.progress(1.001, Some(10.0), Some("step 1"));
        s.progress(3.0, Some(10.0), Some("step 3"));
        s.progress(4.5, None, None);
        s.status("working", Some("copying files"));
        s.status("completed", None);
        s.finish();
        assert_eq!(
            out.lines(),
            [
                "task 1f3a9c2e-0000-4000-8000-000000000000 created (kept for 1 min)",
                "task 1f3a9c2e… working: copying files",
                "progress 1/10: step 1",
                "progress 3/10: step 3",
                "progress 4.5",
                "task 1f3a9c2e… completed",
            ]
        );
    }

    #[test]
    fn plain_holds_lines_while_suspended_and_shows_only_the_latest() {
        let (s, out) = plain();
        s.task_created("t1", None);
        let got = s.suspend(|| {
            s.status("working", Some("a"));
            s.status("working", Some("b"));
            s.progress(2.0, None, Some("x"));
            s.note("cancelling task t1");
            out.lines().len()
        });
        assert_eq!(got, 1, "nothing is written while suspended");
        assert_eq!(
            out.lines(),
            [
                "task t1 created",
                "cancelling task t1",
                "task t1 working: b",
                "progress 2: x",
            ]
        );
    }

    #[test]
    fn finish_writes_what_a_form_still_on_screen_held_back() {
        let (s, out) = plain();
        s.task_created("t1", None);
        s.suspend(|| {
            s.note("interrupted: cancelling task t1");
            s.finish();
        });
        assert_eq!(
            out.lines(),
            ["task t1 created", "interrupted: cancelling task t1"]
        );
    }

    #[test]
    fn suspend_resumes_after_a_panic() {
        let (s, out) = plain();
        let s = Arc::new(s);
        let s2 = Arc::clone(&s);
        let _ = std::thread::spawn(move || s2.suspend(|| panic!("form failed"))).join();
        s.status("working", None);
        assert_eq!(out.lines(), ["call working"]);
    }

    #[test]
    fn live_without_a_terminal_does_not_panic() {
        let s = StatusLine::with_out(Out::Live {
            bar: None,
            target: Box::new(ProgressDrawTarget::hidden),
            screen: Box::new(std::io::sink()),
            record: None,
        });
        s.task_created("t", Some(1500));
        s.status("working", None);
        s.progress(1.0, Some(4.0), Some("a"));
        s.progress(2.0, None, None);
        let r = s.suspend(|| 7);
        assert_eq!(r, 7);
        s.status("completed", None);
        s.note("done");
        s.finish();
        s.progress(3.0, None, None);
    }

    #[test]
    fn live_elsewhere_keeps_the_lasting_lines_on_record() {
        let (screen, record) = (Shared::default(), Shared::default());
        let s = StatusLine::with_out(Out::Live {
            bar: None,
            target: Box::new(ProgressDrawTarget::hidden),
            screen: Box::new(screen.clone()),
            record: Some(Box::new(record.clone())),
        });
        s.task_created("t1", None);
        s.status("working", Some("step 1"));
        s.progress(1.0, Some(2.0), None);
        s.note("cancelling task t1");
        s.status("cancelled", None);
        s.finish();
        let lasting = ["task t1 created", "cancelling task t1", "task t1 cancelled"];
        assert_eq!(
            record.lines(),
            lasting,
            "the record has what lasts, not every change"
        );
        // Once the bar is up (here drawn nowhere) the screen's lines go above it, through the bar.
        assert_eq!(screen.lines(), ["task t1 created"]);
    }

    #[test]
    fn formats() {
        assert_eq!(short("abc"), "abc");
        assert_eq!(short("0123456789abcdef"), "01234567…");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1.0 / 3.0), "0.33");
        assert_eq!(duration(500), "500 ms");
        assert_eq!(duration(1500), "1.5 s");
        assert_eq!(duration(30_000), "30 s");
        assert_eq!(duration(7_200_000), "2 h");
    }
}
