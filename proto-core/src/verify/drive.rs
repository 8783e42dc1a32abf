//! Running a verification against a synchronous answer source (a replayed capture).

use crate::fetch::{FetchRequest, FetchResult};
use crate::report::Report;

use super::{Verification, VerifyError};

/// Answers every fetch of `verification` with `answer` until it ends, and returns its outcome.
///
/// `pick(n)` chooses which of the `n` outstanding fetches is answered next (FIFO is `|_| 0`);
/// tests pass a seeded shuffle to show the report does not depend on answer order.
pub fn drive(
    verification: &mut Verification,
    mut answer: impl FnMut(&FetchRequest) -> FetchResult,
    mut pick: impl FnMut(usize) -> usize,
) -> Result<Report, VerifyError> {
    let mut outstanding: Vec<FetchRequest> = Vec::new();
    // Each answer can only shrink the work or add fetches the plan bounds; this cap turns a
    // bug into an error instead of a hang.
    for _ in 0..100_000 {
        while let Some(req) = verification.poll_fetch() {
            outstanding.push(req);
        }
        if let Some(result) = verification.poll_report() {
            return result;
        }
        if outstanding.is_empty() {
            break;
        }
        let i = pick(outstanding.len()) % outstanding.len();
        let req = outstanding.swap_remove(i);
        let result = answer(&req);
        verification.handle_fetch(req.id, result);
    }
    Err(VerifyError::Unsupported("verification stalled without a report".into()))
}
