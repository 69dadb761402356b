//! The mapping as a whole: config in, bodies and verdicts out.

use super::*;
