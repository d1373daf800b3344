//! The upstream's tools as the gateway offers them: the same definitions, with
//! `execution.taskSupport` rewritten by the task policy (2025-11-25) and each call run through
//! the gateway ([`super::call`]).

use std::sync::Arc;

use mcp_tasks_wire::v2025_11_25::{TaskSupport, Tool, ToolExecution};
use serde_json::{Map, Value};

use super::policy::TaskPolicy;
use super::{call, Inner};
use crate::server::{ToolContext, Tools};

/// The registry for `tools`, as the upstream listed them.
pub(crate) fn registry(gateway: &Arc<Inner>, tools: &[Tool]) -> Tools {
    let mut registry = Tools::new();
    for upstream in tools {
        let rules = gateway.rules.for_tool(&upstream.name);
        let mut tool = upstream.clone();
        tool.execution = match rules.policy {
            TaskPolicy::Never => None,
            TaskPolicy::Optional | TaskPolicy::WhenSlow(_) => Some(ToolExecution {
                task_support: Some(TaskSupport::Optional),
            }),
            TaskPolicy::Always => Some(ToolExecution {
                task_support: Some(TaskSupport::Required),
            }),
        };
        let name = tool.name.clone();
        let gw = gateway.clone();
        let handler = move |arguments: Map<String, Value>, cx: ToolContext| {
            call::run(gw.clone(), name.clone(), arguments, cx)
        };
        registry = if rules.idempotent {
            registry.add_resumable(tool, handler)
        } else {
            registry.add(tool, handler)
        };
        if let TaskPolicy::WhenSlow(after) = rules.policy {
            registry = registry.with_task_after(&upstream.name, after);
        }
    }
    registry
}
