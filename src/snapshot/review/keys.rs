//! The reviewer's answers: single keys without Enter on a terminal (crossterm's raw mode,
//! left as soon as the key is read), or one line each when stdin is not a terminal, so
//! scripts that pipe answers still work.

use std::io::{BufRead, Write};

/// Where answers come from.
pub trait Keys {
    /// The next answer as one character (`a`, `r`, `s`, `A`, `q`, `y`, `n`, …), or `None`
    /// when the input has ended. `out` receives the echo of a key read without Enter.
    fn key(&mut self, out: &mut dyn Write) -> std::io::Result<Option<char>>;
}

/// One answer per line: a key (`a`) or its word (`accept`, `reject`, `skip`, `all`, `quit`,
/// `yes`, `no`).
pub struct LineKeys<R: BufRead>(pub R);

impl<R: BufRead> Keys for LineKeys<R> {
    fn key(&mut self, _out: &mut dyn Write) -> std::io::Result<Option<char>> {
        let mut line = String::new();
        if self.0.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let word = line.trim();
        let key = match word {
            "accept" => 'a',
            "reject" => 'r',
            "skip" => 's',
            "all" => 'A',
            "quit" => 'q',
            "yes" => 'y',
            "no" => 'n',
            _ => {
                let mut chars = word.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => '\0',
                }
            }
        };
        Ok(Some(key))
    }
}

/// Single keys from the terminal, without Enter. Ctrl-C, Ctrl-D and Esc quit.
pub struct TerminalKeys;

/// Leaves raw mode however the read ends.
struct RawMode;

impl RawMode {
    fn enter() -> std::io::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

impl Keys for TerminalKeys {
    fn key(&mut self, out: &mut dyn Write) -> std::io::Result<Option<char>> {
        use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
        out.flush()?;
        let key = {
            let _raw = RawMode::enter()?;
            loop {
                let Event::Key(key) = event::read()? else {
                    continue;
                };
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
                match key.code {
                    KeyCode::Char('c' | 'd') if ctrl => break 'q',
                    KeyCode::Esc => break 'q',
                    KeyCode::Char(c) => break c,
                    _ => continue,
                }
            }
        };
        writeln!(out, "{key}")?;
        Ok(Some(key))
    }
}
