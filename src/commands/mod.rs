//! One module per subcommand, each a thin shell over the pipeline's stages.

pub mod conform;
pub mod list;
pub mod load;
pub mod serve;
pub mod snapshots;

use crate::case::{Case, CaseSelection};
use crate::exit::Failure;

/// The cases a command runs or lists; `None` (exit 6) when the filter matches none.
fn selected_cases(selection: &CaseSelection) -> Result<Option<Vec<Case>>, Failure> {
    let cases = selection
        .cases()
        .map_err(|e| Failure::usage(e.to_string()))?;
    if cases.is_empty() {
        eprintln!("grantcheck: no case matches the filter");
        return Ok(None);
    }
    Ok(Some(cases))
}
