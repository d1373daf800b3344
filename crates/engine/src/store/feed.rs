//! The change feed: how waiters learn that a task changed without polling.
//!
//! A feed is a hint, never the truth. A subscriber that falls behind, or whose store lost
//! changes (a shared store whose listener connection dropped), is told it missed some with
//! [`RecvError::Lagged`] and re-reads the records it cares about. Subscribe before reading, or a
//! change between the read and the subscription is lost.

use tokio::sync::broadcast;
pub use tokio::sync::broadcast::error::RecvError;

use super::Change;

/// What travels on the channel: a change, or word that changes were lost.
#[derive(Clone, Debug)]
enum Signal {
    Change(Change),
    Missed,
}

/// The sending side, kept by a store.
#[derive(Clone, Debug)]
pub struct ChangeSender {
    tx: broadcast::Sender<Signal>,
}

impl ChangeSender {
    /// A feed holding up to `capacity` changes for a slow subscriber before it lags.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(1)).0,
        }
    }

    /// Publishes a change to every subscriber.
    pub fn send(&self, change: Change) {
        // No subscriber is not an error: nobody waits.
        let _ = self.tx.send(Signal::Change(change));
    }

    /// Tells every subscriber that changes may have been lost, so that each re-reads what it
    /// watches: their next `recv` returns [`RecvError::Lagged`].
    pub fn missed(&self) {
        let _ = self.tx.send(Signal::Missed);
    }

    /// A new subscription, seeing what is sent from now on.
    pub fn subscribe(&self) -> ChangeFeed {
        ChangeFeed {
            rx: self.tx.subscribe(),
        }
    }
}

/// A subscription to a store's changes; see the module docs.
#[derive(Debug)]
pub struct ChangeFeed {
    rx: broadcast::Receiver<Signal>,
}

impl ChangeFeed {
    /// The next change.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] when changes were missed (the count is 0 when the store cannot
    /// tell how many): re-read. [`RecvError::Closed`] when the store is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`broadcast::Receiver::recv`].
    pub async fn recv(&mut self) -> Result<Change, RecvError> {
        match self.rx.recv().await? {
            Signal::Change(change) => Ok(change),
            Signal::Missed => Err(RecvError::Lagged(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChangeEvent;
    use crate::task::TaskId;

    #[tokio::test]
    async fn missed_reads_as_lagged_between_changes() {
        let tx = ChangeSender::new(8);
        let mut feed = tx.subscribe();
        let id = TaskId::generate();
        tx.send(Change {
            id: id.clone(),
            event: ChangeEvent::Created,
        });
        tx.missed();
        tx.send(Change {
            id: id.clone(),
            event: ChangeEvent::Expired,
        });
        assert_eq!(feed.recv().await.unwrap().event, ChangeEvent::Created);
        assert!(matches!(feed.recv().await, Err(RecvError::Lagged(0))));
        assert_eq!(feed.recv().await.unwrap().event, ChangeEvent::Expired);
        drop(tx);
        assert!(matches!(feed.recv().await, Err(RecvError::Closed)));
    }
}
