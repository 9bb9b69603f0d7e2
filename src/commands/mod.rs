//! One module per subcommand.

pub mod conform;
pub mod list;
pub mod load;
pub mod serve;
