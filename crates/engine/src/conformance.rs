//! One suite every [`TaskStore`] must pass.
//!
//! Each case is a `pub async fn` taking a store; its doc names the requirement it proves.
//! [`store_conformance!`](crate::store_conformance) mounts every case as a `#[tokio::test]` for a
//! store factory, so a new case runs against every store at once. The macro lists the cases by
//! name, and a unit test compares that list with this module's `pub async fn`s, so a case left
//! out of the list fails the build's tests instead of silently never running.

// A test suite: a failed unwrap is a failed case, which is what it should be.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;

use crate::cursor::Position;
use crate::history::EventKind;
use crate::store::{
    AdminQuery, ChangeEvent, Lease, ListQuery, OwnerFilter, TaskStore, UnfinishedQuery,
};
use crate::task::{
    Failure, InputRequest, NewTask, Outcome, Owner, Recovery, RequestKind, Requestor, RpcError,
    TaskId, TaskStatus, Transition,
};
use crate::Error;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("in range")
}

fn new_task(requestor: Requestor, created: i64, ttl: Option<Duration>) -> NewTask {
    NewTask {
        id: TaskId::generate(),
        requestor,
        kind: RequestKind::ToolsCall,
        name: Some("demo".into()),
        params: json!({"name": "demo", "arguments": {"x": 1}}),
        created_at: t(created),
        ttl,
        poll_interval: Some(Duration::from_millis(500)),
        progress_token: Some(json!("p-1")),
        runner: Some("runner-a".into()),
        active_limit: None,
    }
}

fn anon(session: &str) -> Requestor {
    Requestor::anonymous(session)
}

/// T-NEW-5, T-NEW-3, T-OBJ-1: a created task is found right after, `working`, with every field
/// kept as given.
pub async fn create_then_get(store: Arc<dyn TaskStore>) {
    let new = new_task(anon("s"), 0, Some(Duration::from_secs(60)));
    let created = store.create(new.clone()).await.unwrap();
    let got = store
        .get(None, &new.id)
        .await
        .unwrap()
        .expect("found right after create");
    assert_eq!(got, created);
    assert_eq!(got.status(), TaskStatus::Working);
    assert_eq!(got.created_at, t(0));
    assert_eq!(got.last_updated_at, t(0));
    assert_eq!(got.ttl, Some(Duration::from_secs(60)));
    assert_eq!(got.expires_at, Some(t(60)));
    assert_eq!(got.poll_interval, Some(Duration::from_millis(500)));
    assert_eq!(got.params, new.params);
    assert_eq!(got.progress_token, Some(json!("p-1")));
    assert_eq!(got.session.as_deref(), Some("s"));
    assert!(store
        .get(None, &TaskId::generate())
        .await
        .unwrap()
        .is_none());
}

/// T-SEC-1: another owner's task reads exactly like an unknown one.
pub async fn get_is_owner_scoped(store: Arc<dyn TaskStore>) {
    let alice = Owner::new("alice");
    let req = Requestor {
        owner: Some(alice.clone()),
        session: Some("s".into()),
    };
    let new = new_task(req, 0, None);
    store.create(new.clone()).await.unwrap();
    assert!(store.get(Some(&alice), &new.id).await.unwrap().is_some());
    assert!(store
        .get(Some(&Owner::new("bob")), &new.id)
        .await
        .unwrap()
        .is_none());
    assert!(store.get(None, &new.id).await.unwrap().is_none());
}

/// T-LIFE-2: terminal statuses are final in the store itself, whatever the caller sends.
pub async fn terminal_is_final(store: Arc<dyn TaskStore>) {
    for end in [
        Transition::Finish(Outcome::Completed(json!({"content": []}))),
        Transition::Finish(Outcome::Failed {
            failure: Failure::Result(json!({"content": [], "isError": true})),
            message: "boom".into(),
        }),
        Transition::Cancel {
            message: Some("stop".into()),
            by: None,
        },
    ] {
        let new = new_task(anon("s"), 0, None);
        store.create(new.clone()).await.unwrap();
        let done = store.transition(&new.id, end, t(1)).await.unwrap();
        assert!(done.status().is_terminal());
        for late in [
            Transition::Finish(Outcome::Completed(json!({"late": true}))),
            Transition::Cancel {
                message: None,
                by: None,
            },
            Transition::Message(Some("late".into())),
            Transition::RequestInput(InputRequest::new("k", "elicitation/create", json!({}))),
        ] {
            let err = store.transition(&new.id, late, t(2)).await.unwrap_err();
            assert!(
                matches!(err, Error::Conflict { actual, .. } if actual == done.status()),
                "{err}"
            );
        }
        assert_eq!(store.get(None, &new.id).await.unwrap().unwrap(), done);
    }
    let err = store
        .transition(
            &TaskId::generate(),
            Transition::Cancel {
                message: None,
                by: None,
            },
            t(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
}

/// T-LIFE-2, T-CAN-1: a cancel racing a completion: exactly one wins and never changes.
pub async fn racing_finishers_have_one_winner(store: Arc<dyn TaskStore>) {
    for _ in 0..20 {
        let new = new_task(anon("s"), 0, None);
        store.create(new.clone()).await.unwrap();
        let (a, b) = tokio::join!(
            store.transition(
                &new.id,
                Transition::Finish(Outcome::Completed(json!({"ok": true}))),
                t(1)
            ),
            store.transition(
                &new.id,
                Transition::Cancel {
                    message: None,
                    by: None,
                },
                t(1)
            ),
        );
        assert!(a.is_ok() != b.is_ok(), "exactly one finisher wins");
        let winner = a.or(b).unwrap();
        assert_eq!(store.get(None, &new.id).await.unwrap().unwrap(), winner);
    }
}

/// T-LIFE-1, T-RES-4, X-5: the mailbox: asking moves to input_required, answering every
/// request returns to working, unknown or answered keys are ignored.
pub async fn mailbox_round_trip(store: Arc<dyn TaskStore>) {
    let new = new_task(anon("s"), 0, None);
    store.create(new.clone()).await.unwrap();
    let ask = |k: &str| {
        Transition::RequestInput(InputRequest::new(
            k,
            "elicitation/create",
            json!({"message": k}),
        ))
    };
    let r = store.transition(&new.id, ask("a"), t(1)).await.unwrap();
    assert_eq!(r.status(), TaskStatus::InputRequired);
    assert_eq!(r.last_updated_at, t(1));
    store.transition(&new.id, ask("b"), t(1)).await.unwrap();
    let dup = store.transition(&new.id, ask("a"), t(1)).await.unwrap_err();
    assert!(matches!(dup, Error::DuplicateInputKey { .. }));
    let answer = |k: &str| Transition::AnswerInput {
        key: k.into(),
        response: json!({"action": "accept", "content": {"k": k}}),
    };
    let r = store.transition(&new.id, answer("a"), t(2)).await.unwrap();
    assert_eq!(r.status(), TaskStatus::InputRequired);
    assert_eq!(r.pending_inputs().count(), 1);
    let r = store
        .transition(&new.id, answer("nope"), t(3))
        .await
        .unwrap();
    assert_eq!(r.last_updated_at, t(2), "an unknown key changes nothing");
    let r = store.transition(&new.id, answer("b"), t(4)).await.unwrap();
    assert_eq!(r.status(), TaskStatus::Working);
    let stored = store.get(None, &new.id).await.unwrap().unwrap();
    assert_eq!(
        stored.input_response("a"),
        Some(&json!({"action": "accept", "content": {"k": "a"}}))
    );
    assert_eq!(stored.inputs.len(), 2);
}

/// T-LIST-1, T-LIST-2: listing pages in creation order and shows each requestor only its own
/// tasks: an owner's, or an anonymous session's.
pub async fn list_pages_and_scopes(store: Arc<dyn TaskStore>) {
    let mut mine = Vec::new();
    for i in 0..7 {
        let new = new_task(anon("mine"), i, None);
        mine.push(new.id.clone());
        store.create(new).await.unwrap();
        store
            .create(new_task(anon("other"), i, None))
            .await
            .unwrap();
        store
            .create(new_task(
                Requestor {
                    owner: Some(Owner::new("carol")),
                    session: Some("mine".into()),
                },
                i,
                None,
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(&ListQuery {
                owner: None,
                session: Some("mine".into()),
                after: after.clone(),
                limit: 3,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        after = Some(Position {
            created_at: last.created_at,
            id: last.id.clone(),
        });
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, mine);
    let carol = store
        .list(&ListQuery {
            owner: Some(Owner::new("carol")),
            session: None,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(carol.len(), 7);
    assert!(carol.iter().all(|r| r.owner == Some(Owner::new("carol"))));
}

/// T-TTL-1: tasks past their ttl are deleted and reported on the feed; others stay.
pub async fn expired_tasks_are_deleted(store: Arc<dyn TaskStore>) {
    let short = new_task(anon("s"), 0, Some(Duration::from_secs(10)));
    let long = new_task(anon("s"), 0, Some(Duration::from_secs(1000)));
    let forever = new_task(anon("s"), 0, None);
    for n in [&short, &long, &forever] {
        store.create(n.clone()).await.unwrap();
    }
    let mut feed = store.changes();
    assert!(store.delete_expired(t(9), 100).await.unwrap().is_empty());
    let gone = store.delete_expired(t(10), 100).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].id, short.id);
    assert_eq!(gone[0].name.as_deref(), Some("demo"), "returned as it was");
    assert!(store.get(None, &short.id).await.unwrap().is_none());
    assert!(store.get(None, &long.id).await.unwrap().is_some());
    assert!(store.get(None, &forever.id).await.unwrap().is_some());
    // A shared store may still deliver the creations, which came before the subscription.
    loop {
        let change = tokio::time::timeout(Duration::from_secs(5), feed.recv())
            .await
            .expect("feed delivers")
            .unwrap();
        if change.event == ChangeEvent::Expired {
            assert_eq!(change.id, short.id);
            break;
        }
    }
}

/// T-RES-2, T-NOTE-1: creations and status changes reach feed subscribers, in order (a shared
/// store may repeat an entry: subscribers re-read, so a repeat is harmless).
pub async fn feed_reports_changes(store: Arc<dyn TaskStore>) {
    let mut feed = store.changes();
    let new = new_task(anon("s"), 0, None);
    store.create(new.clone()).await.unwrap();
    store
        .transition(
            &new.id,
            Transition::Finish(Outcome::Completed(json!({}))),
            t(1),
        )
        .await
        .unwrap();
    let completed = ChangeEvent::Updated(TaskStatus::Completed);
    let mut events = Vec::new();
    while !events.contains(&completed) {
        let c = tokio::time::timeout(Duration::from_secs(5), feed.recv())
            .await
            .expect("feed delivers")
            .unwrap();
        if c.id == new.id && events.last() != Some(&c.event) {
            events.push(c.event);
        }
    }
    assert_eq!(events.first(), Some(&ChangeEvent::Created), "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| *e == ChangeEvent::Created || *e == completed),
        "{events:?}"
    );
}

/// T-TTL-2: the per-requestor limit of unfinished tasks is exact under concurrent creation,
/// counts per owner or else per session, and a task that finishes frees its slot.
pub async fn active_limit_is_exact(store: Arc<dyn TaskStore>) {
    let limited = |requestor: Requestor| NewTask {
        active_limit: Some(3),
        ..new_task(requestor, 0, None)
    };
    let attempts: Vec<_> = (0..12)
        .map(|_| store.create(limited(anon("busy"))))
        .collect();
    let results = futures::future::join_all(attempts).await;
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 3, "exactly the limit is admitted");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, Error::LimitExceeded { limit: 3 }), "{e}");
        }
    }
    store
        .create(limited(anon("calm")))
        .await
        .expect("another session has its own count");
    let owned = |who: &str, session: &str| Requestor {
        owner: Some(Owner::new(who)),
        session: Some(session.into()),
    };
    for session in ["a", "b", "c"] {
        store.create(limited(owned("dora", session))).await.unwrap();
    }
    let err = store.create(limited(owned("dora", "d"))).await.unwrap_err();
    assert!(
        matches!(err, Error::LimitExceeded { .. }),
        "owners count across sessions"
    );
    let first = ok[0].id.clone();
    store
        .transition(
            &first,
            Transition::Cancel {
                message: None,
                by: None,
            },
            t(1),
        )
        .await
        .unwrap();
    store
        .create(limited(anon("busy")))
        .await
        .expect("a finished task frees its slot");
}

/// DESIGN "Restart": unfinished tasks of other runners are found, and taking one over is
/// compare-and-swap on the runner: of two recoverers exactly one wins.
pub async fn unfinished_and_recovery(store: Arc<dyn TaskStore>) {
    let working = new_task(anon("s"), 0, None);
    let asking = new_task(anon("s"), 1, None);
    let done = new_task(anon("s"), 2, None);
    let mine = NewTask {
        runner: Some("runner-b".into()),
        ..new_task(anon("s"), 3, None)
    };
    for n in [&working, &asking, &done, &mine] {
        store.create(n.clone()).await.unwrap();
    }
    store
        .transition(
            &asking.id,
            Transition::RequestInput(InputRequest::new("q", "elicitation/create", json!({}))),
            t(1),
        )
        .await
        .unwrap();
    store
        .transition(
            &done.id,
            Transition::Finish(Outcome::Completed(json!({}))),
            t(1),
        )
        .await
        .unwrap();
    let query = |except: &str, after: Option<Position>| UnfinishedQuery {
        except_runner: Some(except.into()),
        after,
        limit: 1,
    };
    let first = store.unfinished(&query("runner-b", None)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, working.id);
    let next = Some(Position {
        created_at: first[0].created_at,
        id: first[0].id.clone(),
    });
    let second = store.unfinished(&query("runner-b", next)).await.unwrap();
    assert_eq!(second[0].id, asking.id, "pages in creation order");
    let all = store
        .unfinished(&UnfinishedQuery {
            except_runner: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "terminal tasks are never orphans");

    let take = |by: &str| Transition::Recover {
        dead_runner: Some("runner-a".into()),
        recovery: Recovery::Rerun {
            runner: by.into(),
            message: "running it again".into(),
        },
    };
    let (x, y) = tokio::join!(
        store.transition(&asking.id, take("runner-x"), t(2)),
        store.transition(&asking.id, take("runner-y"), t(2)),
    );
    assert!(x.is_ok() != y.is_ok(), "exactly one recoverer wins");
    let won = x.or(y).unwrap();
    assert_eq!(won.status(), TaskStatus::Working);
    assert!(won.inputs.is_empty());
    let failed = store
        .transition(
            &working.id,
            Transition::Recover {
                dead_runner: Some("runner-a".into()),
                recovery: Recovery::Fail {
                    message: "the server restarted".into(),
                },
            },
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(failed.status(), TaskStatus::Failed);
    assert_eq!(
        failed.status_message.as_deref(),
        Some("the server restarted")
    );
    let left = store.unfinished(&query("runner-b", None)).await.unwrap();
    assert_eq!(left[0].id, asking.id);
    assert_eq!(left.len(), 1);
}

/// T-NEW-5: many concurrent creations are all durable and all found.
pub async fn concurrent_creates_are_all_found(store: Arc<dyn TaskStore>) {
    let news: Vec<NewTask> = (0..300).map(|i| new_task(anon("many"), i, None)).collect();
    let created = futures::future::join_all(news.iter().map(|n| store.create(n.clone()))).await;
    assert!(created.iter().all(Result::is_ok));
    let gets = futures::future::join_all(news.iter().map(|n| store.get(None, &n.id))).await;
    for (got, new) in gets.into_iter().zip(&news) {
        assert_eq!(got.unwrap().expect("found").id, new.id);
    }
    let listed = store
        .list(&ListQuery {
            owner: None,
            session: Some("many".into()),
            after: None,
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 300);
}

/// T-RES-1, T-LIFE-3: every field of a record survives the store exactly: large and unicode
/// values, errors with data, status messages, answered and pending inputs.
pub async fn records_round_trip_exactly(store: Arc<dyn TaskStore>) {
    let big = "ü€𝄞 ".repeat(30_000);
    let new = NewTask {
        params: json!({"name": "demo", "arguments": {"text": big, "n": 1.5, "deep": [[{"a": null}]]}}),
        ..new_task(
            Requestor {
                owner: Some(Owner::new("sub|ü")),
                session: Some("s".into()),
            },
            0,
            Some(Duration::from_millis(1500)),
        )
    };
    store.create(new.clone()).await.unwrap();
    store
        .transition(&new.id, Transition::Message(Some("halfway ✓".into())), t(1))
        .await
        .unwrap();
    store
        .transition(
            &new.id,
            Transition::RequestInput(InputRequest::new(
                "k1",
                "sampling/createMessage",
                json!({"maxTokens": 5}),
            )),
            t(1),
        )
        .await
        .unwrap();
    store
        .transition(
            &new.id,
            Transition::AnswerInput {
                key: "k1".into(),
                response: json!({"error": {"code": -1, "message": "no"}}),
            },
            t(1),
        )
        .await
        .unwrap();
    let done = store
        .transition(
            &new.id,
            Transition::Finish(Outcome::Failed {
                failure: Failure::Error(RpcError {
                    code: -32000,
                    message: "tool broke".into(),
                    data: Some(json!({"why": big.len()})),
                }),
                message: "tool broke".into(),
            }),
            t(2),
        )
        .await
        .unwrap();
    let got = store
        .get(Some(&Owner::new("sub|ü")), &new.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, done);
    assert_eq!(got.ttl, Some(Duration::from_millis(1500)));
    assert_eq!(got.params, new.params);
}

/// Shared stores: a runner holding a live lease is alive, so its tasks are no orphans and a
/// recovery of one is refused; released, they are orphans, recovered once; a runner that renews
/// a lapsed lease is told so. Stores of one process keep no leases: every other runner is dead.
pub async fn leases_keep_runners_alive(store: Arc<dyn TaskStore>) {
    let task = store.create(new_task(anon("s"), 0, None)).await.unwrap();
    let orphans = UnfinishedQuery {
        except_runner: Some("runner-b".into()),
        after: None,
        limit: 10,
    };
    let take = Transition::Recover {
        dead_runner: Some("runner-a".into()),
        recovery: Recovery::Fail {
            message: "runner-a is gone".into(),
        },
    };
    let ttl = Duration::from_secs(60);
    let first = store.renew_lease("runner-a", ttl).await.unwrap();
    if !store.is_shared() {
        assert_eq!(first, Lease::Kept);
        assert_eq!(store.unfinished(&orphans).await.unwrap().len(), 1);
        return;
    }
    assert_eq!(first, Lease::Started);
    assert_eq!(
        store.renew_lease("runner-a", ttl).await.unwrap(),
        Lease::Kept
    );
    assert!(
        store.unfinished(&orphans).await.unwrap().is_empty(),
        "a live runner's tasks are no orphans"
    );
    let refused = store.transition(&task.id, take.clone(), t(1)).await;
    assert!(
        matches!(refused, Err(Error::RunnerAlive { .. })),
        "{refused:?}"
    );
    let unchanged = store.get(None, &task.id).await.unwrap().unwrap();
    assert_eq!(unchanged.status(), TaskStatus::Working);

    store.release_lease("runner-a").await.unwrap();
    let found = store.unfinished(&orphans).await.unwrap();
    assert_eq!(found.len(), 1, "a released runner's tasks are orphans");
    let (x, y) = tokio::join!(
        store.transition(&task.id, take.clone(), t(2)),
        store.transition(&task.id, take, t(2)),
    );
    assert!(x.is_ok() != y.is_ok(), "exactly one recoverer wins");
    assert_eq!(x.or(y).unwrap().status(), TaskStatus::Failed);
    assert_eq!(
        store.renew_lease("runner-a", ttl).await.unwrap(),
        Lease::Regained,
        "a runner coming back learns its lease had lapsed"
    );
}

/// T-LIST-1: the key that signs `tasks/list` cursors is long enough to be unguessable and does
/// not change while the store is open, so a cursor signed for one page is honoured for the
/// next.
pub async fn cursor_key_is_stable(store: Arc<dyn TaskStore>) {
    let key = store.cursor_key().to_vec();
    assert!(key.len() >= 32, "a cursor key of {} bytes", key.len());
    assert!(key.iter().any(|b| *b != 0), "an all-zero cursor key");
    store.create(new_task(anon("s"), 0, None)).await.unwrap();
    assert_eq!(store.cursor_key(), key.as_slice());
}

/// Issue 15 item 1: a task's whole life is in its history, in order, numbered from 1, each
/// event with the status and statusMessage after it; an answer that changed nothing adds
/// nothing; the history is read whoever owns the task, in pages.
pub async fn history_of_a_full_life(store: Arc<dyn TaskStore>) {
    let alice = Requestor {
        owner: Some(Owner::new("alice")),
        session: Some("s".into()),
    };
    let new = new_task(alice, 0, None);
    let id = new.id.clone();
    store.create(new).await.unwrap();
    store
        .transition(&id, Transition::Message(Some("starting".into())), t(1))
        .await
        .unwrap();
    let ask = InputRequest::new("k1", "elicitation/create", json!({"message": "ok?"}));
    store
        .transition(&id, Transition::RequestInput(ask), t(2))
        .await
        .unwrap();
    let answer = |key: &str| Transition::AnswerInput {
        key: key.into(),
        response: json!({"action": "accept"}),
    };
    store.transition(&id, answer("k1"), t(3)).await.unwrap();
    store.transition(&id, answer("k1"), t(3)).await.unwrap();
    store.transition(&id, answer("nope"), t(3)).await.unwrap();
    let progress = EventKind::Progress {
        progress: 5.0,
        total: Some(10.0),
        message: Some("half".into()),
    };
    store.record(&id, t(4), progress.clone()).await.unwrap();
    let result = json!({"content": [{"type": "text", "text": "done"}]});
    store
        .transition(&id, Transition::Finish(Outcome::Completed(result)), t(5))
        .await
        .unwrap();
    let retrieved = EventKind::ResultRetrieved {
        by: Some("owner:alice".into()),
    };
    store.record(&id, t(6), retrieved.clone()).await.unwrap();

    let history = store.history(&id, None, 100).await.unwrap();
    let created = EventKind::Created {
        kind: RequestKind::ToolsCall,
        tool: Some("demo".into()),
        owner: Some("alice".into()),
        session: Some("s".into()),
        runner: Some("runner-a".into()),
    };
    let starting = Some("starting".to_owned());
    let want = [
        (created, TaskStatus::Working, None),
        (EventKind::Message, TaskStatus::Working, starting.clone()),
        (
            EventKind::InputRequested {
                key: "k1".into(),
                method: "elicitation/create".into(),
                params: json!({"message": "ok?"}),
            },
            TaskStatus::InputRequired,
            starting.clone(),
        ),
        (
            EventKind::InputAnswered {
                key: "k1".into(),
                response: json!({"action": "accept"}),
            },
            TaskStatus::Working,
            starting.clone(),
        ),
        (progress, TaskStatus::Working, starting),
        (EventKind::Completed, TaskStatus::Completed, None),
        (retrieved, TaskStatus::Completed, None),
    ];
    assert_eq!(history.len(), want.len(), "{history:#?}");
    for (i, (event, (kind, status, message))) in history.iter().zip(want).enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(event.seq, seq, "{event:?}");
        assert_eq!(event.kind, kind, "event {seq}");
        assert_eq!(event.status, status, "event {seq}");
        assert_eq!(event.status_message, message, "event {seq}");
    }
    let at: Vec<Timestamp> = history.iter().map(|e| e.at).collect();
    assert_eq!(at, [t(0), t(1), t(2), t(3), t(4), t(5), t(6)]);

    let page = store.history(&id, Some(3), 2).await.unwrap();
    assert_eq!(page, history[3..5]);
    assert!(store.history(&id, Some(7), 10).await.unwrap().is_empty());
    assert!(store
        .history(&TaskId::generate(), None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Issue 15 item 1: a cancel says who cancelled; a failure keeps its error.
pub async fn cancel_and_failure_are_in_the_history(store: Arc<dyn TaskStore>) {
    let new = new_task(anon("s"), 0, None);
    store.create(new.clone()).await.unwrap();
    let cancel = Transition::Cancel {
        message: Some("stopped by the operator".into()),
        by: Some("admin".into()),
    };
    store.transition(&new.id, cancel, t(1)).await.unwrap();
    let last = store.history(&new.id, Some(1), 10).await.unwrap();
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(
        last[0].kind,
        EventKind::Cancelled {
            by: Some("admin".into())
        }
    );
    assert_eq!(last[0].status, TaskStatus::Cancelled);
    assert_eq!(
        last[0].status_message.as_deref(),
        Some("stopped by the operator")
    );

    let new = new_task(anon("s"), 0, None);
    store.create(new.clone()).await.unwrap();
    let failed = Transition::Finish(Outcome::Failed {
        failure: Failure::Error(RpcError {
            code: -32000,
            message: "no disk".into(),
            data: None,
        }),
        message: "the tool failed: no disk".into(),
    });
    store.transition(&new.id, failed, t(1)).await.unwrap();
    let last = store.history(&new.id, Some(1), 10).await.unwrap();
    assert_eq!(
        last[0].kind,
        EventKind::Failed {
            error: json!({"code": -32000, "message": "no disk"})
        }
    );
    assert_eq!(last[0].status, TaskStatus::Failed);
    assert_eq!(
        last[0].status_message.as_deref(),
        Some("the tool failed: no disk")
    );
}

/// Issue 15 item 1: taking over an orphan, to run it again or to fail it, is in its history.
pub async fn recovery_is_in_the_history(store: Arc<dyn TaskStore>) {
    let rerun = new_task(anon("s"), 0, None);
    let failed = new_task(anon("s"), 1, None);
    store.create(rerun.clone()).await.unwrap();
    store.create(failed.clone()).await.unwrap();
    let recover = |recovery| Transition::Recover {
        dead_runner: Some("runner-a".into()),
        recovery,
    };
    store
        .transition(
            &rerun.id,
            recover(Recovery::Rerun {
                runner: "runner-b".into(),
                message: "running it again".into(),
            }),
            t(2),
        )
        .await
        .unwrap();
    store
        .transition(
            &failed.id,
            recover(Recovery::Fail {
                message: "the server restarted".into(),
            }),
            t(2),
        )
        .await
        .unwrap();
    let events = store.history(&rerun.id, None, 10).await.unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].seq, 2);
    assert_eq!(events[1].kind, EventKind::Recovered { rerun: true });
    assert_eq!(events[1].status, TaskStatus::Working);
    assert_eq!(
        events[1].status_message.as_deref(),
        Some("running it again")
    );
    let events = store.history(&failed.id, None, 10).await.unwrap();
    assert_eq!(events[1].kind, EventKind::Recovered { rerun: false });
    assert_eq!(events[1].status, TaskStatus::Failed);
    assert_eq!(
        events[1].status_message.as_deref(),
        Some("the server restarted")
    );
}

/// Issue 15 item 1: a task's history is deleted with it, when its ttl runs out and when an
/// operator purges it; nothing can be added to it afterwards.
pub async fn history_goes_with_the_task(store: Arc<dyn TaskStore>) {
    let expiring = new_task(anon("s"), 0, Some(Duration::from_secs(10)));
    store.create(expiring.clone()).await.unwrap();
    store
        .transition(&expiring.id, Transition::Message(Some("m".into())), t(1))
        .await
        .unwrap();
    let purged = new_task(anon("s"), 0, None);
    store.create(purged.clone()).await.unwrap();
    store
        .transition(
            &purged.id,
            Transition::Finish(Outcome::Completed(json!({}))),
            t(1),
        )
        .await
        .unwrap();
    assert_eq!(
        store.history(&expiring.id, None, 10).await.unwrap().len(),
        2
    );
    assert_eq!(store.history(&purged.id, None, 10).await.unwrap().len(), 2);

    let gone = store.delete_expired(t(10), 100).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert!(store
        .history(&expiring.id, None, 10)
        .await
        .unwrap()
        .is_empty());
    let gone = store.purge(t(2), 100).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert!(store
        .history(&purged.id, None, 10)
        .await
        .unwrap()
        .is_empty());
    for id in [&expiring.id, &purged.id] {
        let late = EventKind::ResultRetrieved { by: None };
        let err = store.record(id, t(3), late).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }
}

/// Issue 15 item 3: purge deletes terminal tasks last changed before the cut, at most
/// `limit` at a time, never an unfinished one, and reports each on the feed.
pub async fn purge_deletes_old_finished_tasks(store: Arc<dyn TaskStore>) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        let new = new_task(anon("s"), 0, None);
        store.create(new.clone()).await.unwrap();
        ids.push(new.id);
    }
    let [completed, failed, cancelled, working, asking] = ids.as_slice() else {
        unreachable!("five tasks")
    };
    let end = |outcome| Transition::Finish(outcome);
    store
        .transition(completed, end(Outcome::Completed(json!({}))), t(1))
        .await
        .unwrap();
    let failure = Outcome::Failed {
        failure: Failure::Result(json!({"isError": true})),
        message: "x".into(),
    };
    store.transition(failed, end(failure), t(2)).await.unwrap();
    let cancel = Transition::Cancel {
        message: None,
        by: None,
    };
    store.transition(cancelled, cancel, t(5)).await.unwrap();
    let ask = InputRequest::new("k", "elicitation/create", json!({}));
    store
        .transition(asking, Transition::RequestInput(ask), t(1))
        .await
        .unwrap();

    let mut feed = store.changes();
    let gone = store.purge(t(3), 100).await.unwrap();
    let mut gone: Vec<TaskId> = gone.into_iter().map(|r| r.id).collect();
    gone.sort();
    let mut want = vec![completed.clone(), failed.clone()];
    want.sort();
    assert_eq!(gone, want, "finished before t(3)");
    let mut reported = Vec::new();
    while reported.len() < 2 {
        let change = tokio::time::timeout(Duration::from_secs(10), feed.recv())
            .await
            .expect("purges are reported")
            .unwrap();
        if change.event == ChangeEvent::Expired && !reported.contains(&change.id) {
            reported.push(change.id);
        }
    }
    reported.sort();
    assert_eq!(reported, want);
    for id in &want {
        assert!(store.inspect(id).await.unwrap().is_none());
    }

    let later = store.purge(t(100), 1).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(&later[0].id, cancelled);
    assert!(store.purge(t(100), 100).await.unwrap().is_empty());
    for id in [working, asking] {
        assert!(
            store.inspect(id).await.unwrap().is_some(),
            "unfinished tasks stay"
        );
    }
}

/// Issue 15 item 3: the operator's listing shows every owner's tasks newest first, as
/// `(created_at, id)` descending; each filter narrows it; pages follow each other by
/// `before` with nothing lost or repeated.
pub async fn admin_list_filters_and_pages(store: Arc<dyn TaskStore>) {
    let owned = |o: &str| Requestor {
        owner: Some(Owner::new(o)),
        session: Some(format!("{o}-session")),
    };
    let mut all = Vec::new();
    let mut add = async |requestor: Requestor, created: i64, tool: Option<&str>| {
        let mut new = new_task(requestor, created, None);
        new.name = tool.map(Into::into);
        let record = store.create(new).await.unwrap();
        all.push(record.clone());
        record
    };
    let a1 = add(owned("alice"), 1, Some("a")).await;
    add(owned("alice"), 2, Some("a")).await;
    add(owned("alice"), 3, Some("a")).await;
    add(owned("bob"), 4, Some("b")).await;
    add(owned("bob"), 5, Some("b")).await;
    add(anon("s1"), 6, None).await;
    add(anon("s2"), 7, Some("a")).await;
    // Two at the same instant: the id breaks the tie.
    add(owned("carol"), 8, Some("c")).await;
    add(owned("carol"), 8, Some("c")).await;
    let done = store
        .transition(
            &a1.id,
            Transition::Finish(Outcome::Completed(json!({}))),
            t(9),
        )
        .await
        .unwrap();
    all[0] = done;
    all.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));

    let ids = |records: Vec<crate::task::TaskRecord>| -> Vec<TaskId> {
        records.into_iter().map(|r| r.id).collect()
    };
    let want = |keep: &dyn Fn(&crate::task::TaskRecord) -> bool| -> Vec<TaskId> {
        all.iter()
            .filter(|r| keep(r))
            .map(|r| r.id.clone())
            .collect()
    };
    let list = async |query: AdminQuery| ids(store.admin_list(&query).await.unwrap());

    let everything = list(AdminQuery::default()).await;
    assert_eq!(everything, want(&|_| true), "newest first");
    assert_eq!(
        store
            .admin_list(&AdminQuery::default())
            .await
            .unwrap()
            .iter()
            .find(|r| r.id == a1.id)
            .unwrap()
            .status(),
        TaskStatus::Completed,
        "records as they are now"
    );

    let by_status = list(AdminQuery {
        statuses: vec![TaskStatus::Completed, TaskStatus::Cancelled],
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(by_status, std::slice::from_ref(&a1.id));
    let alice = list(AdminQuery {
        owner: Some(OwnerFilter::Owner(Owner::new("alice"))),
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(alice, want(&|r| r.owner == Some(Owner::new("alice"))));
    assert_eq!(alice.len(), 3);
    let unowned = list(AdminQuery {
        owner: Some(OwnerFilter::Unowned),
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(unowned, want(&|r| r.owner.is_none()));
    assert_eq!(unowned.len(), 2);
    let tool = list(AdminQuery {
        tool: Some("a".into()),
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(tool, want(&|r| r.name.as_deref() == Some("a")));
    assert_eq!(tool.len(), 4);
    let window = list(AdminQuery {
        created_after: Some(t(3)),
        created_before: Some(t(8)),
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(
        window,
        want(&|r| r.created_at > t(3) && r.created_at < t(8))
    );
    assert_eq!(window.len(), 4, "4, 5, 6, 7: both bounds are strict");
    let working_alice = list(AdminQuery {
        statuses: vec![TaskStatus::Working],
        owner: Some(OwnerFilter::Owner(Owner::new("alice"))),
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(working_alice.len(), 2);

    let paged = async |query: AdminQuery| {
        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .admin_list(&AdminQuery {
                    before: before.clone(),
                    limit: 2,
                    ..query.clone()
                })
                .await
                .unwrap();
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            before = Some(Position {
                created_at: last.created_at,
                id: last.id.clone(),
            });
            paged.extend(ids(page));
        }
        paged
    };
    assert_eq!(
        paged(AdminQuery::default()).await,
        everything,
        "pages by `before` walk everything once"
    );
    // Unfinished and finished statuses at once, paged: one listing, newest first.
    let mixed = paged(AdminQuery {
        statuses: vec![TaskStatus::Completed, TaskStatus::Working],
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(mixed, everything);
    let mixed = paged(AdminQuery {
        statuses: vec![TaskStatus::Completed, TaskStatus::InputRequired],
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(mixed, std::slice::from_ref(&a1.id));
    let filtered_page = list(AdminQuery {
        tool: Some("a".into()),
        before: Some(Position {
            created_at: t(7),
            id: all
                .iter()
                .find(|r| r.created_at == t(7))
                .unwrap()
                .id
                .clone(),
        }),
        limit: 2,
        ..AdminQuery::default()
    })
    .await;
    assert_eq!(filtered_page, tool[1..3]);
}

/// Issue 15 item 2: tasks are counted by status, tool and owner, over every owner.
pub async fn counts_group_tasks(store: Arc<dyn TaskStore>) {
    let alice = Requestor {
        owner: Some(Owner::new("alice")),
        session: Some("s".into()),
    };
    let mut first = None;
    for i in 0..3 {
        let record = store
            .create(new_task(alice.clone(), i, None))
            .await
            .unwrap();
        first.get_or_insert(record.id);
    }
    store
        .transition(
            first.as_ref().unwrap(),
            Transition::Finish(Outcome::Completed(json!({}))),
            t(5),
        )
        .await
        .unwrap();
    let mut untitled = new_task(anon("s"), 0, None);
    untitled.name = None;
    store.create(untitled).await.unwrap();
    let mut counts: Vec<(&str, Option<String>, Option<String>, u64)> = store
        .counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.status.as_str(),
                c.tool,
                c.owner.map(|o| o.as_str().to_owned()),
                c.count,
            )
        })
        .collect();
    counts.sort();
    let demo = Some("demo".to_owned());
    let alice = Some("alice".to_owned());
    assert_eq!(
        counts,
        [
            ("completed", demo.clone(), alice.clone(), 1),
            ("working", None, None, 1),
            ("working", demo, alice, 2),
        ]
    );
}

/// Issue 15 item 3: an operator reads any owner's task by id.
pub async fn inspect_ignores_owner(store: Arc<dyn TaskStore>) {
    let alice = Owner::new("alice");
    let new = new_task(
        Requestor {
            owner: Some(alice.clone()),
            session: Some("s".into()),
        },
        0,
        None,
    );
    let created = store.create(new.clone()).await.unwrap();
    assert!(store.get(None, &new.id).await.unwrap().is_none());
    assert_eq!(store.inspect(&new.id).await.unwrap(), Some(created));
    assert!(store.inspect(&TaskId::generate()).await.unwrap().is_none());
}

/// Issue 15 item 1: an event of an unknown task is refused, not kept for nobody.
pub async fn record_needs_a_task(store: Arc<dyn TaskStore>) {
    let unknown = TaskId::generate();
    let progress = EventKind::Progress {
        progress: 1.0,
        total: None,
        message: None,
    };
    let err = store.record(&unknown, t(0), progress).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref id } if *id == unknown),
        "{err}"
    );
    assert!(store.history(&unknown, None, 10).await.unwrap().is_empty());
}

/// Issue 15 item 1: progress is refused once the task ended, in the same step as the append,
/// so a report that raced the end never lands after it; what a finished task may still get
/// (its result being retrieved) is kept.
pub async fn progress_ends_with_the_task(store: Arc<dyn TaskStore>) {
    let progress = |p: f64| EventKind::Progress {
        progress: p,
        total: Some(2.0),
        message: None,
    };
    let new = new_task(anon("s"), 0, None);
    let id = new.id.clone();
    store.create(new).await.unwrap();
    store.record(&id, t(1), progress(1.0)).await.unwrap();
    store
        .transition(
            &id,
            Transition::Finish(Outcome::Completed(json!({"content": []}))),
            t(2),
        )
        .await
        .unwrap();
    let late = store.record(&id, t(3), progress(2.0)).await.unwrap_err();
    assert!(
        matches!(
            late,
            Error::Conflict {
                actual: TaskStatus::Completed,
                ..
            }
        ),
        "{late}"
    );
    let retrieved = EventKind::ResultRetrieved {
        by: Some("session:s".into()),
    };
    store.record(&id, t(4), retrieved.clone()).await.unwrap();
    let kinds: Vec<EventKind> = store
        .history(&id, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(kinds[1], progress(1.0));
    assert_eq!(kinds[2], EventKind::Completed);
    assert_eq!(kinds[3], retrieved);

    // Cancelled ends it as well.
    let new = new_task(anon("s"), 0, None);
    let id = new.id.clone();
    store.create(new).await.unwrap();
    store
        .transition(
            &id,
            Transition::Cancel {
                message: None,
                by: None,
            },
            t(1),
        )
        .await
        .unwrap();
    assert!(matches!(
        store.record(&id, t(2), progress(1.0)).await,
        Err(Error::Conflict {
            actual: TaskStatus::Cancelled,
            ..
        })
    ));
    assert_eq!(store.history(&id, None, 10).await.unwrap().len(), 2);
}

/// Issue 15 item 2: a healthy store passes its readiness check.
pub async fn check_passes_when_healthy(store: Arc<dyn TaskStore>) {
    store.check().await.unwrap();
    store.create(new_task(anon("s"), 0, None)).await.unwrap();
    store.check().await.unwrap();
}

/// Mounts the whole [`conformance`](crate::conformance) suite as tests for one store.
///
/// `$factory` is an expression callable with no arguments that returns a future of something
/// that converts into `Arc<dyn TaskStore>`. A new case gets its `@case` line here; the unit test
/// `the_macro_mounts_every_case` fails until it has one.
#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::conformance as c;

            async fn store() -> ::std::sync::Arc<dyn $crate::store::TaskStore> {
                let f = $factory;
                ::std::sync::Arc::new(f().await)
            }

            $crate::store_conformance!(@case create_then_get);
            $crate::store_conformance!(@case get_is_owner_scoped);
            $crate::store_conformance!(@case terminal_is_final);
            $crate::store_conformance!(@case racing_finishers_have_one_winner);
            $crate::store_conformance!(@case mailbox_round_trip);
            $crate::store_conformance!(@case list_pages_and_scopes);
            $crate::store_conformance!(@case expired_tasks_are_deleted);
            $crate::store_conformance!(@case feed_reports_changes);
            $crate::store_conformance!(@case active_limit_is_exact);
            $crate::store_conformance!(@case unfinished_and_recovery);
            $crate::store_conformance!(@case concurrent_creates_are_all_found);
            $crate::store_conformance!(@case records_round_trip_exactly);
            $crate::store_conformance!(@case leases_keep_runners_alive);
            $crate::store_conformance!(@case cursor_key_is_stable);
            $crate::store_conformance!(@case history_of_a_full_life);
            $crate::store_conformance!(@case cancel_and_failure_are_in_the_history);
            $crate::store_conformance!(@case recovery_is_in_the_history);
            $crate::store_conformance!(@case history_goes_with_the_task);
            $crate::store_conformance!(@case purge_deletes_old_finished_tasks);
            $crate::store_conformance!(@case admin_list_filters_and_pages);
            $crate::store_conformance!(@case counts_group_tasks);
            $crate::store_conformance!(@case inspect_ignores_owner);
            $crate::store_conformance!(@case record_needs_a_task);
            $crate::store_conformance!(@case progress_ends_with_the_task);
            $crate::store_conformance!(@case check_passes_when_healthy);
        }
    };
    (@case $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            c::$case(store().await).await;
        }
    };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Names that follow `marker` in `source`, up to the first character that cannot be in an
    /// identifier.
    fn names_after<'a>(source: &'a str, marker: &str) -> BTreeSet<&'a str> {
        source
            .match_indices(marker)
            .map(|(at, _)| {
                let rest = &source[at + marker.len()..];
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect()
    }

    /// Every `pub async fn` in this module is a case, and [`store_conformance!`] mounts exactly
    /// those: a case added here but not to the macro would otherwise never run against any
    /// store, and nothing would say so.
    #[test]
    fn the_macro_mounts_every_case() {
        let source = include_str!("conformance.rs");
        let (module, _) = source
            .split_once("#[cfg(test)]\nmod tests")
            .expect("this test module ends the file");
        let cases = names_after(module, "\npub async fn ");
        let mounted = names_after(module, "store_conformance!(@case ");
        assert!(
            !cases.is_empty(),
            "no `pub async fn` found: the parse is broken"
        );
        let unmounted: Vec<_> = cases.difference(&mounted).collect();
        let unknown: Vec<_> = mounted.difference(&cases).collect();
        assert!(
            unmounted.is_empty() && unknown.is_empty(),
            "store_conformance! must list each case once: add `$crate::store_conformance!(@case \
             NAME);` for {unmounted:?}, remove the lines for {unknown:?}"
        );
    }
}
