//! Reading the event log: the ledger's streams, one at a time, through the log reader's
//! [`read_category`]: streamed from the server row by row in `(stream_name, stream_version)`
//! order, so that the table is never loaded into memory and each stream's events arrive
//! together.
//!
//! The metadata column is not read, so corrupted metadata cannot stop the audit. Payloads are
//! decoded later, through the schema registry ([`RecordedEvent::decode`], which upcasts), by the
//! checks that need them.
//!
//! [`RecordedEvent::decode`]: loopync_schemas::RecordedEvent::decode

use super::auditor::Auditor;
use super::payments::PaymentScan;
use super::wallets::WalletScan;
use futures::TryStreamExt;
use loopync_projections::log::read_category;
use sqlx::PgConnection;

/// Streams every payment stream (`payment-…`) through the auditor.
pub(super) async fn read_payments(conn: &mut PgConnection, auditor: &mut Auditor) -> Result<(), sqlx::Error> {
    let mut events = read_category(conn, "payment");
    let mut current: Option<PaymentScan> = None;
    while let Some(recorded) = events.try_next().await? {
        let scan = match current.take() {
            Some(scan) if scan.check.stream == recorded.stream_name => scan,
            other => {
                if let Some(done) = other {
                    auditor.finish_payment(done);
                }
                auditor.start_payment(&recorded.stream_name)
            }
        };
        let scan = current.insert(scan);
        auditor.payment_event(scan, &recorded);
    }
    if let Some(done) = current {
        auditor.finish_payment(done);
    }
    Ok(())
}

/// Streams every wallet stream (`wallet-…`) through the auditor.
pub(super) async fn read_wallets(conn: &mut PgConnection, auditor: &mut Auditor) -> Result<(), sqlx::Error> {
    let mut events = read_category(conn, "wallet");
    let mut current: Option<WalletScan> = None;
    while let Some(recorded) = events.try_next().await? {
        let scan = match current.take() {
            Some(scan) if scan.stream == recorded.stream_name => scan,
            other => {
                if let Some(done) = other {
                    auditor.finish_wallet(done);
                }
                auditor.start_wallet(&recorded.stream_name)
            }
        };
        let scan = current.insert(scan);
        auditor.wallet_event(scan, &recorded);
    }
    if let Some(done) = current {
        auditor.finish_wallet(done);
    }
    Ok(())
}
