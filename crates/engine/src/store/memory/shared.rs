//! What many tasks of the memory store have in common, kept once and counted.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

/// Who made a task and what runs it. A session's tasks of one tool, run by one process, share
/// one: each task holds a pointer instead of four strings and a duration.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Origin {
    pub(super) owner: Option<Arc<str>>,
    pub(super) session: Option<Arc<str>>,
    /// The tool, for `tools/call`.
    pub(super) name: Option<Arc<str>>,
    pub(super) runner: Option<Arc<str>>,
    /// The suggested polling interval, which an engine gives all its tasks.
    pub(super) poll_interval: Option<Duration>,
}

/// The parts of an [`Origin`], borrowed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Parts<'a> {
    pub(super) owner: Option<&'a str>,
    pub(super) session: Option<&'a str>,
    pub(super) name: Option<&'a str>,
    pub(super) runner: Option<&'a str>,
    pub(super) poll_interval: Option<Duration>,
}

impl Origin {
    pub(super) fn parts(&self) -> Parts<'_> {
        Parts {
            owner: self.owner.as_deref(),
            session: self.session.as_deref(),
            name: self.name.as_deref(),
            runner: self.runner.as_deref(),
            poll_interval: self.poll_interval,
        }
    }
}

/// The shared strings and origins of one store. Each holder owns a counted reference; the last
/// holder gives it back with [`Shared::release_string`] or [`Shared::release_origin`], which
/// forget it once only this set holds it.
#[derive(Debug, Default)]
pub(super) struct Shared {
    strings: HashSet<Arc<str>>,
    origins: HashSet<Arc<Origin>>,
}

impl Shared {
    /// The shared copy of `s`, made on first use.
    pub(super) fn string(&mut self, s: &str) -> Arc<str> {
        if let Some(kept) = self.strings.get(s) {
            return kept.clone();
        }
        let kept: Arc<str> = Arc::from(s);
        self.strings.insert(kept.clone());
        kept
    }

    /// The shared copy of `s`, if something holds it.
    pub(super) fn find(&self, s: &str) -> Option<&Arc<str>> {
        self.strings.get(s)
    }

    /// The shared origin with these parts, made on first use.
    pub(super) fn origin(&mut self, parts: Parts<'_>) -> Arc<Origin> {
        let origin = Origin {
            owner: parts.owner.map(|s| self.string(s)),
            session: parts.session.map(|s| self.string(s)),
            name: parts.name.map(|s| self.string(s)),
            runner: parts.runner.map(|s| self.string(s)),
            poll_interval: parts.poll_interval,
        };
        if let Some(kept) = self.origins.get(&origin) {
            let kept = kept.clone();
            self.release_parts(origin);
            return kept;
        }
        let kept = Arc::new(origin);
        self.origins.insert(kept.clone());
        kept
    }

    /// Gives back one reference to a shared string.
    pub(super) fn release_string(&mut self, s: Arc<str>) {
        if unshared(&s) {
            self.strings.remove(&*s);
        }
    }

    /// Gives back one reference to a shared origin, and its strings with it once no task
    /// has that origin.
    pub(super) fn release_origin(&mut self, origin: Arc<Origin>) {
        if !unshared(&origin) {
            return;
        }
        self.origins.remove(&*origin);
        if let Some(origin) = Arc::into_inner(origin) {
            self.release_parts(origin);
        }
    }

    fn release_parts(&mut self, origin: Origin) {
        let Origin {
            owner,
            session,
            name,
            runner,
            poll_interval: _,
        } = origin;
        for s in [owner, session, name, runner].into_iter().flatten() {
            self.release_string(s);
        }
    }

    /// Forgets everything, once no task is left to hold anything.
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// How many strings and origins are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> (usize, usize) {
        (self.strings.len(), self.origins.len())
    }
}

/// Whether `shared` is held only by its caller and by the set that keeps it.
fn unshared<T: ?Sized + Hash + Eq>(shared: &Arc<T>) -> bool {
    Arc::strong_count(shared) == 2
}
