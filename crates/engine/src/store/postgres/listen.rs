//! The listener: committed changes, from `LISTEN`, onto this store's feed.
//!
//! Every write transaction sends `NOTIFY` with its changes ([`notes`](super::notes): one per
//! notification, or several packed in one), so a notification exists exactly when the changes
//! committed. This instance's own changes come back too and are published again: its writers
//! and the unbatched writes also publish them directly, for speed, but one whose connection
//! broke after the commit (or, unbatched, whose future was dropped) never does, and a waiter
//! here must not hang for that. Subscribers re-read on every entry, so a repeat costs a read,
//! never a wrong answer.
//!
//! PostgreSQL keeps nothing for a listener that is away: when the listening connection drops,
//! the listener tells every subscriber it missed changes ([`ChangeSender::missed`]) at once and
//! after each failed attempt to reconnect (so waiters re-read at the backoff's pace while it is
//! down), and once more after listening again. A change committed during the outage is then seen
//! by a re-read, or by its notification if it came after the new `LISTEN`: no wake-up is lost.
//!
//! A connection can also die silently (a dropped network path keeps TCP open): a `SELECT 1`
//! every few seconds with a deadline notices that too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config};

use super::tls::Tls;

use crate::store::ChangeSender;

/// The channel every instance of a database notifies and listens on.
pub(super) const CHANNEL: &str = "mcp_tasks_changes";

/// How often the listening connection is checked, and how long the check may take.
const HEALTH_EVERY: Duration = Duration::from_secs(5);
const HEALTH_DEADLINE: Duration = Duration::from_secs(5);

/// Waits between reconnection attempts: doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_LAST: Duration = Duration::from_secs(2);

/// The running listener; stops when dropped.
#[derive(Debug)]
pub(super) struct Listener {
    task: JoinHandle<()>,
    reconnects: Arc<AtomicU64>,
}

impl Listener {
    /// Connects and listens before returning, so that no change committed after the store
    /// opened is missed.
    pub(super) async fn start(
        config: Config,
        tls: Tls,
        feed: ChangeSender,
        label: String,
    ) -> Result<Self, tokio_postgres::Error> {
        let first = listen(&config, &tls).await?;
        let reconnects = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(run(first, config, tls, feed, label, reconnects.clone()));
        Ok(Self { task, reconnects })
    }

    /// How many times the connection was lost and made again.
    pub(super) fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listening connection: the client, and the notifications its driver forwards.
struct Session {
    client: Client,
    notes: mpsc::UnboundedReceiver<tokio_postgres::Notification>,
    driver: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

async fn listen(config: &Config, tls: &Tls) -> Result<Session, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let (tx, notes) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if tx.send(note).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "the listening connection failed");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok(Session {
        client,
        notes,
        driver,
    })
}

async fn run(
    first: Session,
    config: Config,
    tls: Tls,
    feed: ChangeSender,
    label: String,
    reconnects: Arc<AtomicU64>,
) {
    let mut session = first;
    loop {
        serve(&mut session, &feed).await;
        drop(session);
        tracing::warn!(store = %label, "lost the connection that listens for changes; reconnecting");
        feed.missed();
        session = reconnect(&config, &tls, &label, &feed).await;
        reconnects.fetch_add(1, Ordering::Relaxed);
        tracing::info!(store = %label, "listening for changes again");
        feed.missed();
    }
}

/// Forwards notifications until the connection is lost.
async fn serve(session: &mut Session, feed: &ChangeSender) {
    let mut health = tokio::time::interval(HEALTH_EVERY);
    health.tick().await;
    loop {
        tokio::select! {
            note = session.notes.recv() => {
                let Some(note) = note else { return };
                let changes = super::notes::parse(note.payload());
                if changes.is_empty() {
                    tracing::debug!(payload = note.payload(), "ignored a notification that is not ours");
                }
                for change in changes {
                    feed.send(change);
                }
            }
            _ = health.tick() => {
                let check = tokio::time::timeout(HEALTH_DEADLINE, session.client.simple_query("SELECT 1")).await;
                if !matches!(check, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

async fn reconnect(config: &Config, tls: &Tls, label: &str, feed: &ChangeSender) -> Session {
    let mut wait = BACKOFF_FIRST;
    loop {
        tokio::time::sleep(wait).await;
        match listen(config, tls).await {
            Ok(session) => return session,
            Err(e) => {
                tracing::warn!(store = %label, error = %super::describe(&e), retry_in = ?wait, "cannot listen for changes yet; waiters re-read meanwhile");
                feed.missed();
                wait = (wait * 2).min(BACKOFF_LAST);
            }
        }
    }
}
