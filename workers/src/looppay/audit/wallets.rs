//! Wallets: each wallet stream (`wallet-<account>`) read event by event, every event checked
//! and tallied on the way.
//!
//! For each event, in order: the wallet's chain ([`ChainVerifier`], first break only), the
//! leg's shape for its kind, the money (the wallet's recomputed balances, the funding account,
//! the leg's entry), the payment the leg belongs to, and the wallet as the projection must
//! have it at its checkpoint ([`Head`]). Only what a wallet ends with stays in memory
//! ([`WalletFinal`]); its events pass through.

use super::auditor::{Auditor, at, on};
use super::chain::ChainVerifier;
use super::double_entry::{EntryTally, LegRef, Side, bit, is_credit, is_debit, leg_shape, name};
use super::heads::head;
use super::payments::payment_slot;
use super::report::MismatchKind;
use loopync_domain::looppay::{LedgerAccount, WalletEvent, WalletEventKind};
use loopync_schemas::RecordedEvent;

/// A wallet as of the projection's checkpoint: what its read-model row must say.
#[derive(Debug, Clone, Default)]
pub(super) struct Head {
    pub(super) available: i64,
    pub(super) held: i64,
    pub(super) sequence: i64,
    pub(super) last_hash: String,
    pub(super) position: i64,
}

/// What stays of a wallet once it has streamed by: its head at the checkpoint, whether its
/// chain broke (a broken wallet is not compared with its read-model row), and whether a row
/// was found for it.
#[derive(Debug, Clone)]
pub(super) struct WalletFinal {
    pub(super) projected: Option<Head>,
    pub(super) broken: bool,
    pub(super) compared: bool,
}

/// The wallet being streamed.
pub(super) struct WalletScan {
    pub(super) account: u32,
    pub(super) stream: String,
    pub(super) chain: ChainVerifier,
    pub(super) broken: bool,
    pub(super) available: i128,
    pub(super) held: i128,
    pub(super) projected: Option<Head>,
    pub(super) prefix_open: bool,
    /// The global position of the last event whose chain held: the wallet's chain head.
    pub(super) tip_position: i64,
}

impl Auditor {
    pub(super) fn start_wallet(&mut self, stream: &str) -> WalletScan {
        let id = stream.strip_prefix("wallet-").unwrap_or(stream);
        let is_wallet = LedgerAccount::parse(id).is_some_and(|a| a.has_stream() && a.to_string() == id);
        if !is_wallet {
            self.report(
                MismatchKind::StreamName,
                on(stream),
                format!("`{id}` is not a wallet account (a lowercase user id or system.escrow)"),
            );
        }
        WalletScan {
            account: self.accounts.intern(id),
            stream: stream.to_owned(),
            chain: ChainVerifier::default(),
            broken: false,
            available: 0,
            held: 0,
            projected: None,
            prefix_open: true,
            tip_position: 0,
        }
    }

    pub(super) fn wallet_event(&mut self, scan: &mut WalletScan, recorded: &RecordedEvent) {
        self.wallet_events += 1;
        let (version, position) = (recorded.stream_version, recorded.position.global_position);
        let here = at(&scan.stream, version, position);
        let projected = self.projected(recorded.position);
        if !projected {
            self.events_not_projected += 1;
        }
        let event = match recorded.decode::<WalletEvent>() {
            Ok(event) => event,
            Err(error) => {
                if !scan.broken {
                    scan.broken = true;
                    self.report(MismatchKind::Undecodable, here, error.to_string());
                }
                scan.prefix_open = false;
                return;
            }
        };
        let entry = event.entry();
        let kind = event.kind();

        // 1. The chain: the first break of each wallet.
        if !scan.broken {
            let account = self.accounts.name(scan.account);
            let broken = match scan.chain.check(&event) {
                Err(why) => Some((MismatchKind::of_break(why), why.to_string())),
                Ok(()) if entry.account != account => Some((
                    MismatchKind::Account,
                    format!("the event names account {:?}, not its stream's", entry.account),
                )),
                Ok(()) if entry.sequence != version => Some((
                    MismatchKind::Sequence,
                    format!("sequence {} stored at stream version {version}", entry.sequence),
                )),
                Ok(()) => None,
            };
            if let Some((kind, reason)) = broken {
                scan.broken = true;
                self.report(kind, here, reason);
            } else {
                scan.tip_position = position;
            }
        }

        // 2. The leg itself.
        if let Err(why) = leg_shape(kind, entry) {
            self.report(MismatchKind::LegShape, here, why);
        }

        // 3. Money: the wallet's recomputed balances, the funding account, the entry.
        scan.available += i128::from(entry.available_delta);
        scan.held += i128::from(entry.held_delta);
        let mut leg_sum = i128::from(entry.available_delta) + i128::from(entry.held_delta);
        if kind == WalletEventKind::ToppedUp {
            self.top_ups += 1;
            self.totals.funding -= i128::from(entry.amount);
            leg_sum -= i128::from(entry.amount);
        }
        let counterparty = entry.counterparty.as_deref().map(|c| self.accounts.intern(c));
        let side = Side { account: scan.account, counterparty };
        let leg = LegRef { wallet: scan.account, version, position };
        let tally = self.entries.entry(entry.entry_id).or_insert(EntryTally {
            sum: 0,
            kinds: 0,
            debit: None,
            credit: None,
            first: leg,
        });
        tally.sum += leg_sum;
        let duplicate = tally.kinds & bit(kind) != 0;
        tally.kinds |= bit(kind);
        if is_debit(kind) && tally.debit.is_none() {
            tally.debit = Some(side);
        } else if is_credit(kind) && tally.credit.is_none() {
            tally.credit = Some(side);
        }
        if duplicate {
            self.report_entry(
                MismatchKind::DuplicateLeg,
                here,
                Some(entry.entry_id),
                format!("a second {} leg in entry {}", name(kind), entry.entry_id),
            );
        }

        // 4. The payment the leg belongs to.
        if let (Some((slot, payer_side)), Some(payment_id)) = (payment_slot(kind), entry.payment_id) {
            self.payment_leg(scan.account, payment_id, slot, payer_side, &event, here);
        }

        // 5. The wallet as the projection must have it.
        if scan.prefix_open && projected && !scan.broken {
            let head = scan.projected.get_or_insert_with(Head::default);
            head.available = entry.available_after;
            head.held = entry.held_after;
            head.sequence = entry.sequence;
            head.last_hash.clone_from(&entry.hash);
            head.position = position;
        } else {
            scan.prefix_open = false;
        }
    }

    pub(super) fn finish_wallet(&mut self, scan: WalletScan) {
        self.totals.available += scan.available;
        self.totals.held += scan.held;
        if self.accounts.name(scan.account) == LedgerAccount::ESCROW {
            self.totals.escrow += scan.available + scan.held;
        }
        if let Some(heads) = self.heads.as_mut()
            && !scan.broken
            && scan.chain.sequence() > 0
        {
            heads.push(head(&scan.stream, scan.chain.sequence(), scan.chain.last_hash(), scan.tip_position));
        }
        let last = WalletFinal { projected: scan.projected, broken: scan.broken, compared: false };
        if self.wallets.insert(scan.account, last).is_some() {
            self.report(
                MismatchKind::StreamName,
                on(&scan.stream),
                "this account's events are in two streams".to_owned(),
            );
        }
    }
}
