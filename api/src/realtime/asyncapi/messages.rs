//! The frames of the protocol as messages of the document: who sends each, what its cursor is,
//! and the schema of its `data`, generated from its type.

use super::*;

/// What a server frame's `cursor` is.
pub enum Cursor {
    /// A position that is not the frame's own (`ready`, `resync_required`): not stored.
    Session(&'static str),
    /// The frame's position in the user's stream: stored, replayed on resume.
    Durable,
    /// Always null: the frame is never stored.
    Ephemeral,
}

impl Cursor {
    pub(super) fn tag(&self) -> &'static str {
        match self {
            Cursor::Session(_) => "session",
            Cursor::Durable => "durable",
            Cursor::Ephemeral => "ephemeral",
        }
    }

    pub(super) fn schema(&self) -> Value {
        match self {
            Cursor::Session(description) => json!({ "type": "string", "description": description }),
            Cursor::Durable => json!({
                "type": "string",
                "description": "This update's position in the user's stream: opaque, increasing per \
                                user. Keep the last one processed and reconnect with `since` to \
                                get what was missed.",
            }),
            Cursor::Ephemeral => json!({ "type": "null", "description": "Ephemeral frame: never stored." }),
        }
    }
}

/// Who sends a frame, and what follows from that.
pub enum Sender {
    /// The gateway; what the frame's `cursor` is.
    Server(Cursor),
    /// A client. `replies`: the server frames that answer it on the same connection, if any.
    Client { replies: &'static [&'static str] },
}

/// One frame type of the protocol: a message of the document and the operation carrying it.
pub struct FrameDoc {
    /// The frame's `type`.
    pub(super) name: &'static str,
    /// From the type's doc comment: its first paragraph, and the rest.
    pub(super) summary: String,
    pub(super) description: String,
    pub(super) sender: Sender,
    /// The schema of `data`, generated from the frame's type.
    pub(super) data: Value,
    /// `{name, summary, payload}`, each payload a whole wire frame.
    pub(super) examples: Vec<Value>,
}

impl FrameDoc {
    /// The frame of type `F`. Its `data` schema is what the type serializes to for a server
    /// frame (exactly: nothing else appears), and what the gateway accepts for a client frame.
    /// The type's doc comment becomes the message's summary and description.
    pub fn new<F: LiveFrame>(sender: Sender) -> Self {
        let mut data = match sender {
            Sender::Server(_) => {
                let mut data = data_schema::<F>(SchemaSettings::draft07().for_serialize());
                if data["type"] == "object" {
                    data["additionalProperties"] = Value::Bool(false);
                }
                data
            }
            Sender::Client { .. } => data_schema::<F>(SchemaSettings::draft07().for_deserialize()),
        };
        let doc = data.as_object_mut().and_then(|data| data.remove("description"));
        let doc = doc.as_ref().and_then(Value::as_str).unwrap_or_default();
        let (summary, details) = doc.split_once("\n\n").unwrap_or((doc, ""));
        // What the cursor says about delivery comes first, as the tags say it.
        let delivery = match &sender {
            Sender::Server(Cursor::Durable) => "Durable: has a cursor and is replayed on resume.",
            Sender::Server(Cursor::Ephemeral) => "Ephemeral.",
            Sender::Server(Cursor::Session(_)) | Sender::Client { .. } => "",
        };
        let description = match (delivery, details) {
            ("", "") => summary.to_owned(),
            ("", only) | (only, "") => only.to_owned(),
            (delivery, details) => format!("{delivery} {details}"),
        };
        Self { name: F::KIND, summary: summary.to_owned(), description, sender, data, examples: Vec::new() }
    }

    /// An example of this frame carrying `data`: for a server frame, exactly the text the
    /// gateway sends (with `cursor`); for a client frame, `type` and `data`.
    pub fn example<F: LiveFrame>(mut self, name: &str, summary: &str, cursor: Option<i64>, data: F) -> Self {
        // Encoding cannot fail for these plain types (see `protocol::with_cursor`); a null
        // example would fail `every_example_matches_its_payload_schema`.
        let payload = match self.sender {
            Sender::Server(_) => live::encode(cursor, &data)
                .ok()
                .and_then(|frame| serde_json::from_str(&frame).ok())
                .unwrap_or_default(),
            Sender::Client { .. } => {
                json!({ "type": F::KIND, "data": serde_json::to_value(&data).unwrap_or_default() })
            }
        };
        self.examples.push(json!({ "name": name, "summary": summary, "payload": payload }));
        self
    }

    /// The message's key in `components.messages` and the channel's `messages`: prefixed with
    /// the sender, because both sides have a frame named `signal`.
    pub(super) fn key(&self) -> String {
        match self.sender {
            Sender::Server(_) => format!("server_{}", self.name),
            Sender::Client { .. } => format!("client_{}", self.name),
        }
    }

    /// `send` for server frames, `receive` for client frames: the gateway's point of view.
    pub(super) fn action(&self) -> &'static str {
        match self.sender {
            Sender::Server(_) => "send",
            Sender::Client { .. } => "receive",
        }
    }

    /// `sendBalanceUpdated`, `receivePresenceSubscribe`, ...
    pub(super) fn operation_id(&self) -> String {
        format!("{}{}", self.action(), pascal_case(self.name))
    }

    pub(super) fn message(&self) -> Value {
        let frame_type = json!({ "type": "string", "const": self.name });
        let (payload, tag) = match &self.sender {
            // The envelope of server frames is fixed by the protocol: nothing else appears in it.
            Sender::Server(cursor) => (
                json!({
                    "type": "object",
                    "required": ["type", "cursor", "data"],
                    "additionalProperties": false,
                    "properties": { "type": frame_type, "cursor": cursor.schema(), "data": self.data },
                }),
                cursor.tag(),
            ),
            // Client frames need only `type` and `data`; the schema does not forbid more.
            Sender::Client { .. } => (
                json!({
                    "type": "object",
                    "required": ["type", "data"],
                    "properties": { "type": frame_type, "data": self.data },
                }),
                "client",
            ),
        };
        json!({
            "name": self.name,
            "title": title(self.name),
            "summary": self.summary,
            "description": self.description,
            "contentType": "application/json",
            "tags": [reference(&format!("#/components/tags/{tag}"))],
            "payload": payload,
            "examples": self.examples,
        })
    }

    /// The gateway's operation on this frame.
    pub(super) fn operation(&self) -> Value {
        let channel = reference(&format!("#/channels/{CHANNEL}"));
        let channel_message = |key: &str| reference(&format!("#/channels/{CHANNEL}/messages/{key}"));
        let mut operation = json!({
            "action": self.action(),
            "channel": channel,
            "title": format!("{} {}", pascal_case(self.action()), self.name),
            "summary": self.summary,
            "messages": [channel_message(&self.key())],
        });
        if let Sender::Client { replies } = self.sender
            && !replies.is_empty()
        {
            let messages: Vec<Value> =
                replies.iter().map(|name| channel_message(&format!("server_{name}"))).collect();
            operation["reply"] = json!({ "channel": channel, "messages": messages });
        }
        operation
    }
}

/// The schema of `F` as a frame's `data`: JSON Schema draft 07 (what AsyncAPI schemas build
/// on), every subschema inline so that the payload stands alone.
pub(super) fn data_schema<F: LiveFrame>(settings: SchemaSettings) -> Value {
    let settings = settings
        .with(|settings| {
            settings.meta_schema = None;
            settings.inline_subschemas = true;
        })
        .with_transform(RecursiveTransform(unwrap_lines as fn(&mut Schema)));
    let mut schema = settings.into_generator().root_schema_for::<F>().to_value();
    // The type's Rust name says nothing to client authors; the message has a title.
    if let Some(schema) = schema.as_object_mut() {
        schema.remove("title");
    }
    schema
}

/// Joins the lines of a description taken from a doc comment, which wraps at the source's
/// width: a lone line break inside a paragraph is a space, as in Markdown. Blank lines and list
/// items (`- `) keep theirs.
pub(super) fn unwrap_lines(schema: &mut Schema) {
    let Some(Value::String(description)) = schema.get_mut("description") else { return };
    let mut unwrapped = String::with_capacity(description.len());
    let mut previous: Option<&str> = None;
    for line in description.split('\n') {
        if let Some(previous) = previous {
            let kept = previous.is_empty() || line.is_empty() || line.starts_with("- ");
            unwrapped.push(if kept { '\n' } else { ' ' });
        }
        unwrapped.push_str(line);
        previous = Some(line);
    }
    *description = unwrapped;
}
