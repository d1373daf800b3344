//! Content blocks: what a tool result (and a prompt or resource) is made of.
//!
//! MCP 2025-11-25 schema: `ContentBlock`, `TextContent`, `ImageContent`, `AudioContent`,
//! `ResourceLink`, `EmbeddedResource`, `TextResourceContents`, `BlobResourceContents`,
//! `Annotations`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{Meta, Role};

/// One piece of content, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// `"type": "text"`.
    Text(TextContent),
    /// `"type": "image"`.
    Image(ImageContent),
    /// `"type": "audio"`.
    Audio(AudioContent),
    /// `"type": "resource_link"`: a pointer to a resource, not its contents.
    ResourceLink(ResourceLink),
    /// `"type": "resource"`: a resource's contents, inline.
    Resource(EmbeddedResource),
}

impl ContentBlock {
    /// A plain text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextContent::new(text))
    }
}

/// Hints for the client about how to use or show an object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    /// Who the content is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Vec<Role>>,
    /// Importance from 0.0 (least) to 1.0 (most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    /// When the content last changed, as an ISO 8601 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// Text for the user or the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextContent {
    /// The text.
    pub text: String,
    /// Display hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl TextContent {
    /// Text with no annotations or `_meta`.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            annotations: None,
            meta: None,
        }
    }
}

/// An image, base64-encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageContent {
    /// The image bytes, base64-encoded.
    pub data: String,
    /// The image's MIME type, e.g. `image/png`.
    pub mime_type: String,
    /// Display hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Audio, base64-encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioContent {
    /// The audio bytes, base64-encoded.
    pub data: String,
    /// The audio's MIME type, e.g. `audio/wav`.
    pub mime_type: String,
    /// Display hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A resource the server can read, named but not included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLink {
    /// The resource's URI.
    pub uri: String,
    /// Programmatic name.
    pub name: String,
    /// Name for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the resource is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The resource's MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size of the raw content in bytes (before base64), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Display hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Icons for display (`Icon` objects, passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Value>>,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A resource's contents, inline in a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedResource {
    /// The contents.
    pub resource: ResourceContents,
    /// Display hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A resource's contents: text or binary, told apart by which of `text` and `blob` is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceContents {
    /// Text contents.
    Text(TextResourceContents),
    /// Binary contents, base64-encoded.
    Blob(BlobResourceContents),
}

/// Text contents of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// The resource's MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The text.
    pub text: String,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Binary contents of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// The resource's MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The bytes, base64-encoded.
    pub blob: String,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn blocks_are_tagged_by_type() {
        let cases = [
            (
                ContentBlock::text("hi"),
                json!({"type": "text", "text": "hi"}),
            ),
            (
                ContentBlock::Image(ImageContent {
                    data: "AAAA".into(),
                    mime_type: "image/png".into(),
                    annotations: None,
                    meta: None,
                }),
                json!({"type": "image", "data": "AAAA", "mimeType": "image/png"}),
            ),
            (
                ContentBlock::ResourceLink(ResourceLink {
                    uri: "file:///a".into(),
                    name: "a".into(),
                    title: None,
                    description: None,
                    mime_type: None,
                    size: Some(3),
                    annotations: None,
                    icons: None,
                    meta: None,
                }),
                json!({"type": "resource_link", "uri": "file:///a", "name": "a", "size": 3}),
            ),
            (
                ContentBlock::Resource(EmbeddedResource {
                    resource: ResourceContents::Blob(BlobResourceContents {
                        uri: "file:///b".into(),
                        mime_type: None,
                        blob: "AA==".into(),
                        meta: None,
                    }),
                    annotations: None,
                    meta: None,
                }),
                json!({"type": "resource", "resource": {"uri": "file:///b", "blob": "AA=="}}),
            ),
        ];
        for (block, wire) in cases {
            assert_eq!(serde_json::to_value(&block).unwrap(), wire);
            assert_eq!(serde_json::from_value::<ContentBlock>(wire).unwrap(), block);
        }
    }

    #[test]
    fn resource_contents_pick_text_or_blob() {
        let text: ResourceContents =
            serde_json::from_value(json!({"uri": "u:x", "text": "t", "mimeType": "text/plain"}))
                .unwrap();
        assert!(matches!(text, ResourceContents::Text(_)));
        let blob: ResourceContents =
            serde_json::from_value(json!({"uri": "u:x", "blob": "AA=="})).unwrap();
        assert!(matches!(blob, ResourceContents::Blob(_)));
        assert!(serde_json::from_value::<ResourceContents>(json!({"uri": "u:x"})).is_err());
    }

    #[test]
    fn unknown_block_type_is_rejected() {
        assert!(serde_json::from_value::<ContentBlock>(json!({"type": "video"})).is_err());
    }

    #[test]
    fn annotations_are_camel_case() {
        let a = Annotations {
            audience: Some(vec![Role::User, Role::Assistant]),
            priority: Some(0.5),
            last_modified: Some("2025-01-12T15:00:58Z".into()),
        };
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"audience": ["user", "assistant"], "priority": 0.5, "lastModified": "2025-01-12T15:00:58Z"})
        );
    }
}
