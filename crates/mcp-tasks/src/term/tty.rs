//! The person's terminal when stdout and stderr are both redirected: `/dev/tty`, as git and ssh
//! use it to ask for a password.
//!
//! `mcp-tasks call ask_name --task > out 2> err` still has someone at the keyboard; the result
//! goes to `out` and the record of the run to `err`, but the server's questions and the live
//! status line go to the controlling terminal. The form there is line by line (the terminal's
//! own line editing, no raw mode): the full-screen form in [`super::form::ask`] draws on stderr
//! only. A process with no controlling terminal (a service, `setsid`, CI) opens nothing here,
//! and its questions are answered from `--answers FILE` or cancelled with a warning.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use indicatif::TermLike;
use serde_json::{Map, Value};

use super::form::{read_selection, read_typed, Answer};
use super::schema::{self, Field, Kind};

/// The path of the controlling terminal.
const DEV_TTY: &str = "/dev/tty";

/// The width the live line assumes: the size of a terminal cannot be read without `ioctl`, so
/// `COLUMNS` (set by most shells) is used when present, else a width every terminal has.
const DEFAULT_WIDTH: u16 = 80;

/// The controlling terminal, open for reading and writing.
#[derive(Debug, Clone)]
pub(crate) struct Tty {
    file: Arc<File>,
}

impl Tty {
    /// Opens the controlling terminal; `None` when the process has none.
    pub(crate) fn open() -> Option<Self> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(DEV_TTY)
            .ok()
            .map(|file| Self {
                file: Arc::new(file),
            })
    }

    /// A writer onto the terminal.
    pub(crate) fn writer(&self) -> TtyWriter {
        TtyWriter(Arc::clone(&self.file))
    }

    /// The terminal as a draw target for the live status line.
    pub(crate) fn screen(&self) -> TtyScreen {
        TtyScreen(Mutex::new(self.writer()))
    }

    /// Asks the form of an `elicitation/create` on the terminal, line by line; see
    /// [`ask_lines`]. Blocking: call it from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// When the schema has a field the form cannot show, or the terminal fails.
    pub(crate) fn ask(&self, message: &str, schema: &Value) -> anyhow::Result<Answer> {
        let mut input = BufReader::new(self.writer());
        let mut output = self.writer();
        ask_lines(message, schema, &mut input, &mut output)
    }
}

/// Writes to (and reads from) the terminal; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct TtyWriter(Arc<File>);

impl Write for TtyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

impl io::Read for TtyWriter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*self.0, buf)
    }
}

/// The terminal as an indicatif draw target, with ANSI cursor movement.
#[derive(Debug)]
pub(crate) struct TtyScreen(Mutex<TtyWriter>);

impl TtyScreen {
    fn write(&self, s: &str) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(s.as_bytes())
    }

    fn csi(&self, n: usize, code: char) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}{code}"))
    }
}

impl TermLike for TtyScreen {
    /// The controlling terminal's width (crossterm asks `/dev/tty` itself, so redirected
    /// output does not hide it), else `COLUMNS`, else 80. A width narrower than the terminal's
    /// would leave parts of old lines on screen.
    fn width(&self) -> u16 {
        crossterm::terminal::size()
            .ok()
            .map(|(columns, _)| columns)
            .filter(|w| *w > 0)
            .or_else(|| {
                std::env::var("COLUMNS")
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .filter(|w| *w > 0)
            })
            .unwrap_or(DEFAULT_WIDTH)
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.csi(n, 'A')
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.csi(n, 'B')
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.csi(n, 'C')
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.csi(n, 'D')
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.write(s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.write("\r\x1b[2K")
    }
    fn flush(&self) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush()
    }
}

/// Asks the form line by line: `message`, then per field its label, help and default, and a
/// line of input (Enter keeps the default; an empty optional field is left out; choices are
/// picked by number or value; several by numbers separated with commas). An answer that does
/// not fit is refused with the reason and asked again. Then "Send? [Y/n]": Enter or `y`
/// accepts, `n` declines. End of input (Ctrl-D) cancels.
///
/// # Errors
///
/// When the schema has a field the form cannot show, or reading or writing fails.
pub(crate) fn ask_lines(
    message: &str,
    schema: &Value,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> anyhow::Result<Answer> {
    let fields = schema::fields(schema)
        .map_err(|e| anyhow::anyhow!("cannot show the server's form: {e}"))?;
    writeln!(output, "{message}")?;
    writeln!(
        output,
        "(* marks required fields; Enter keeps the [default] or skips an optional field; Ctrl-D \
         cancels)"
    )?;
    let mut content = Map::new();
    for field in &fields {
        match field_answer(field, input, output)? {
            Some(Some(value)) => {
                content.insert(field.name.clone(), value);
            }
            Some(None) => {}
            None => return Ok(Answer::Cancel),
        }
    }
    loop {
        write!(output, "Send? [Y/n] ")?;
        output.flush()?;
        let Some(line) = read_line(input)? else {
            return Ok(Answer::Cancel);
        };
        match line.trim().to_lowercase().as_str() {
            "" | "y" | "yes" => {
                super::form::validate(schema, &content)
                    .map_err(|e| anyhow::anyhow!("the form's answer: {e}"))?;
                return Ok(Answer::Accept(content));
            }
            "n" | "no" => return Ok(Answer::Decline),
            _ => writeln!(output, "  type y to send or n to decline")?,
        }
    }
}

/// One field, asked until the answer fits: `Some(None)` skips it, `None` is end of input.
fn field_answer(
    field: &Field,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> anyhow::Result<Option<Option<Value>>> {
    let star = if field.required { " *" } else { "" };
    writeln!(output, "{}{star}", field.label())?;
    if let Some(description) = &field.description {
        writeln!(output, "  {description}")?;
    }
    let options = match &field.kind {
        Kind::Bool { .. } => vec!["yes".to_owned(), "no".to_owned()],
        Kind::Choice { options, .. } | Kind::Multi { options, .. } => {
            options.iter().map(|o| o.label.clone()).collect()
        }
        Kind::Text { .. } | Kind::Number { .. } => Vec::new(),
    };
    for (n, label) in options.iter().enumerate() {
        writeln!(output, "  {}) {label}", n + 1)?;
    }
    let default = default_text(field);
    loop {
        match &default {
            Some(d) => write!(output, "> [{d}] ")?,
            None => write!(output, "> ")?,
        }
        output.flush()?;
        let Some(line) = read_line(input)? else {
            return Ok(None);
        };
        let typed = line.trim();
        let typed = match (&default, typed.is_empty()) {
            (Some(d), true) => d.as_str(),
            _ => typed,
        };
        match parse(field, typed) {
            Ok(value) => return Ok(Some(value)),
            Err(e) => writeln!(output, "  {e}")?,
        }
    }
}

/// The default shown in brackets, as it would be typed.
fn default_text(field: &Field) -> Option<String> {
    match &field.kind {
        Kind::Text { default, .. } => default.clone(),
        Kind::Number { default, .. } => default.as_ref().map(ToString::to_string),
        Kind::Bool { default } => default.map(|b| if b { "yes" } else { "no" }.to_owned()),
        Kind::Choice { default, .. } => default.clone(),
        Kind::Multi { default, .. } => (!default.is_empty()).then(|| default.join(",")),
    }
}

/// Reads one typed answer into the field's value: `Ok(None)` for a skipped optional field.
fn parse(field: &Field, typed: &str) -> Result<Option<Value>, String> {
    match &field.kind {
        Kind::Text { .. } | Kind::Number { .. } => read_typed(field, typed),
        Kind::Bool { .. } => match typed.to_lowercase().as_str() {
            "" if !field.required => Ok(None),
            "" => Err("required; type y or n".to_owned()),
            "1" | "y" | "yes" | "true" => Ok(Some(Value::Bool(true))),
            "2" | "n" | "no" | "false" => Ok(Some(Value::Bool(false))),
            other => Err(format!("{other:?} is not yes or no; type y or n")),
        },
        Kind::Choice { options, .. } => {
            if typed.is_empty() {
                return if field.required {
                    Err("required; type the number of a choice".to_owned())
                } else {
                    Ok(None)
                };
            }
            let index = pick(options.len(), typed, |i| {
                options[i].value == typed || options[i].label == typed
            })?;
            let value = Value::String(options[index].value.clone());
            field.check(&value)?;
            Ok(Some(value))
        }
        Kind::Multi { options, .. } => {
            let mut indexes = Vec::new();
            for part in typed.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let index = pick(options.len(), part, |i| {
                    options[i].value == part || options[i].label == part
                })?;
                if !indexes.contains(&index) {
                    indexes.push(index);
                }
            }
            read_selection(field, &indexes)
        }
    }
}

/// The index of the option `typed` names: its number (from 1), or the option `is` matches.
fn pick(count: usize, typed: &str, is: impl Fn(usize) -> bool) -> Result<usize, String> {
    if let Ok(n) = typed.parse::<usize>() {
        if (1..=count).contains(&n) {
            return Ok(n - 1);
        }
    }
    (0..count).find(|&i| is(i)).ok_or_else(|| {
        format!("{typed:?} is not one of the choices; type a number from 1 to {count}")
    })
}

/// One line without its line ending; `None` at end of input.
fn read_line(input: &mut impl BufRead) -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    let read = input
        .read_line(&mut line)
        .context("cannot read the answer from the terminal")?;
    if read == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(schema: &Value, typed: &str) -> (Answer, String) {
        let mut input = typed.as_bytes();
        let mut output = Vec::new();
        let answer = ask_lines("Tell me", schema, &mut input, &mut output).unwrap();
        (answer, String::from_utf8(output).unwrap())
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "title": "Name", "minLength": 2},
                "age": {"type": "integer", "minimum": 0, "maximum": 150, "default": 30},
                "ok": {"type": "boolean"},
                "size": {"type": "string", "oneOf": [{"const": "s", "title": "Small"},
                                                     {"const": "l", "title": "Large"}]},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]},
                         "maxItems": 2}
            },
            "required": ["name", "size"]
        })
    }

    #[test]
    fn answers_every_kind_and_asks_again_until_it_fits() {
        let (answer, shown) = run(&schema(), "A\nAda\n200\n\ny\nLarge\n1, 3\n\n");
        assert_eq!(
            answer,
            Answer::Accept(
                json!({"name": "Ada", "age": 30, "ok": true, "size": "l", "tags": ["a", "c"]})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert!(shown.starts_with("Tell me\n"), "{shown}");
        assert!(shown.contains("Name *"), "{shown}");
        assert!(shown.contains("  2) Large"), "{shown}");
        assert!(shown.contains("> [30] "), "{shown}");
        assert!(
            shown.contains("at least 2"),
            "the short name is refused: {shown}"
        );
        assert!(shown.contains("at most 150"), "the age is refused: {shown}");
    }

    #[test]
    fn skips_optional_fields_declines_and_cancels() {
        let (answer, _) = run(&schema(), "Ada\n\n\n1\n\n\n");
        assert_eq!(
            answer,
            Answer::Accept(
                json!({"name": "Ada", "age": 30, "size": "s"})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        let (answer, _) = run(&schema(), "Ada\n\n\n1\n\nn\n");
        assert_eq!(answer, Answer::Decline);
        let (answer, _) = run(&schema(), "Ada\n");
        assert_eq!(answer, Answer::Cancel, "end of input cancels");
    }

    #[test]
    fn choices_must_be_one_of_the_options() {
        let (answer, shown) = run(&schema(), "Ada\n\n\n3\nmedium\nl\n4\nc\nn\n");
        assert_eq!(answer, Answer::Decline);
        assert!(
            shown.contains("\"3\" is not one of the choices; type a number from 1 to 2"),
            "{shown}"
        );
        assert!(
            shown.contains("\"medium\" is not one of the choices"),
            "{shown}"
        );
    }
}
