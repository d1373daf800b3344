//! Who a task belongs to (T-SEC-1, T-SEC-2, T-LIST-2).

use std::fmt;

/// An authenticated principal, such as a bearer token's subject.
///
/// When present it binds every task it creates: another owner's task looks exactly like an
/// unknown one (T-SEC-1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner(String);

impl Owner {
    /// Wraps an auth subject.
    pub fn new(subject: impl Into<String>) -> Self {
        Self(subject.into())
    }

    /// The subject as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The party asking: its auth context, if any, and the session it speaks through.
///
/// Visibility rules, applied the same way by every store:
/// - `get`, `result`, `cancel`: a task is visible when its owner equals the requestor's owner
///   (both `None` counts as equal). Without auth, the unguessable id is the capability.
/// - `list`: with an owner, all of that owner's tasks; without one, only the tasks created in
///   the requestor's own session, since nothing else tells anonymous requestors apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requestor {
    /// The auth context, filled by an auth layer.
    pub owner: Option<Owner>,
    /// The transport session (stdio connection, or HTTP `Mcp-Session-Id`).
    pub session: Option<String>,
}

impl Requestor {
    /// A requestor with no auth context, identified by its session only.
    pub fn anonymous(session: impl Into<String>) -> Self {
        Self {
            owner: None,
            session: Some(session.into()),
        }
    }
}
