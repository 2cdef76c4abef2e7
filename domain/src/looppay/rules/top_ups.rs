//! Top-ups: limits, confirmation and failure, settled once.

use super::*;

#[test]
fn a_top_up_confirmed_at_once_credits_the_wallet_from_funding() {
    given::<Wallet>([]).when(request_top_up(1, 500, true, LIMITS, now())).then([sealed(
        WalletEventKind::ToppedUp,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            available_delta: 500,
            available_after: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            ..entry(ADA, 1, GENESIS_HASH)
        },
    )]);

    let wallet = Wallet::default().fold(&decided([request_top_up(1, 500, true, LIMITS, now())]));
    assert_eq!((wallet.available, wallet.held, wallet.sequence), (500, 0, 1));
    assert!(wallet.pending_top_ups.is_empty());
    assert_eq!(wallet.settled_top_ups, [SettledTopUp { id: id(1), outcome: TopUpSettlement::Confirmed }]);
}

#[test]
fn a_requested_top_up_moves_nothing_until_it_is_confirmed() {
    let requested = decided([request_top_up(1, 500, false, LIMITS, now())]);
    let request = sealed(
        WalletEventKind::TopUpRequested,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            ..entry(ADA, 1, GENESIS_HASH)
        },
    );
    assert_eq!(requested, std::slice::from_ref(&request));
    let wallet = Wallet::default().fold(&requested);
    assert_eq!((wallet.available, wallet.held), (0, 0));
    assert_eq!(wallet.pending_top_ups.get(&id(1)).map(|p| p.amount), Some(500));

    given::<Wallet>(requested).when(confirm_top_up(1, soon())).then([sealed(
        WalletEventKind::ToppedUp,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            available_delta: 500,
            available_after: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            occurred_at: soon(),
            ..entry(ADA, 2, &request.entry().hash)
        },
    )]);
}

#[test]
fn a_top_up_confirmed_twice_is_credited_once() {
    let history = decided([request_top_up(1, 500, false, LIMITS, now()), confirm_top_up(1, soon())]);
    assert_eq!(Wallet::default().fold(&history).available, 500);
    given::<Wallet>(history).when(confirm_top_up(1, soon())).then([]);
}

#[test]
fn confirming_or_failing_an_unknown_top_up_is_refused() {
    let history = decided([request_top_up(1, 500, false, LIMITS, now())]);
    given::<Wallet>(history.clone()).when(confirm_top_up(2, soon())).then_error(LedgerError::TopUpNotFound);
    given::<Wallet>(history).when(fail_top_up(2, soon())).then_error(LedgerError::TopUpNotFound);
    given::<Wallet>([]).when(confirm_top_up(1, soon())).then_error(LedgerError::TopUpNotFound);
}

#[test]
fn a_failed_top_up_moves_nothing_and_is_failed_once() {
    let requested = decided([request_top_up(1, 500, false, LIMITS, now())]);
    let expected = sealed(
        WalletEventKind::TopUpFailed,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            occurred_at: soon(),
            ..entry(ADA, 2, &requested[0].entry().hash)
        },
    );
    given::<Wallet>(requested.clone()).when(fail_top_up(1, soon())).then([expected.clone()]);

    let failed: Vec<WalletEvent> = requested.into_iter().chain([expected]).collect();
    let wallet = Wallet::default().fold(&failed);
    assert_eq!((wallet.available, wallet.held), (0, 0));
    assert!(wallet.pending_top_ups.is_empty());
    given::<Wallet>(failed).when(fail_top_up(1, soon())).then([]);
}

#[test]
fn a_top_up_settled_one_way_cannot_be_settled_the_other() {
    given::<Wallet>(decided([request_top_up(1, 500, false, LIMITS, now()), confirm_top_up(1, soon())]))
        .when(fail_top_up(1, soon()))
        .then_error(LedgerError::TopUpAlreadySettled);
    given::<Wallet>(decided([request_top_up(1, 500, true, LIMITS, now())]))
        .when(fail_top_up(1, soon()))
        .then_error(LedgerError::TopUpAlreadySettled);
    given::<Wallet>(decided([request_top_up(1, 500, false, LIMITS, now()), fail_top_up(1, soon())]))
        .when(confirm_top_up(1, soon()))
        .then_error(LedgerError::TopUpAlreadySettled);
}

#[test]
fn a_repeated_top_up_request_is_a_no_op() {
    let request = || request_top_up(1, 500, false, LIMITS, now());
    let at_once = || request_top_up(1, 500, true, LIMITS, now());
    given::<Wallet>(decided([request()])).when(request()).then([]);
    given::<Wallet>(decided([request()])).when(at_once()).then([]);
    given::<Wallet>(decided([request(), confirm_top_up(1, soon())])).when(request()).then([]);
    given::<Wallet>(decided([request(), fail_top_up(1, soon())])).when(request()).then([]);
    given::<Wallet>(decided([at_once()])).when(at_once()).then([]);
}

#[test]
fn a_single_top_up_is_at_most_the_per_top_up_limit() {
    given::<Wallet>([])
        .when(request_top_up(1, 10_001, true, LIMITS, now()))
        .then_error(LedgerError::TopUpLimitExceeded { limit: 10_000 });
    given::<Wallet>([])
        .when(request_top_up(1, 10_001, false, LIMITS, now()))
        .then_error(LedgerError::TopUpLimitExceeded { limit: 10_000 });
    let wallet = Wallet::default().fold(&decided([request_top_up(1, 10_000, true, LIMITS, now())]));
    assert_eq!(wallet.available, 10_000);
}

#[test]
fn top_up_amounts_are_positive() {
    // A top-up holds `Credits`: a non-positive amount cannot even be asked for.
    for amount in [0, -1, i64::MIN] {
        assert_eq!(Credits::new(amount), Err(LedgerError::InvalidAmount(amount)));
    }
}

#[test]
fn the_daily_limit_counts_pending_requests() {
    // 10 000 credited and 10 000 pending: 5 000 of the 25 000 are left today.
    let history = decided([
        request_top_up(1, 10_000, true, LIMITS, now()),
        request_top_up(2, 10_000, false, LIMITS, now()),
    ]);
    given::<Wallet>(history.clone())
        .when(request_top_up(3, 5_001, true, LIMITS, soon()))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 5_000 });
    let wallet = Wallet::default().fold(&history);
    assert_eq!(accepted(wallet.decide(&request_top_up(3, 5_000, true, LIMITS, soon()))).len(), 1);
}

#[test]
fn the_daily_limit_ignores_failed_requests() {
    let history = decided([
        request_top_up(1, 10_000, true, LIMITS, now()),
        request_top_up(2, 10_000, false, LIMITS, now()),
        fail_top_up(2, now()),
        // Only allowed because the failed request no longer counts.
        request_top_up(3, 10_000, true, LIMITS, soon()),
    ]);
    assert_eq!(Wallet::default().fold(&history).available, 20_000);
    given::<Wallet>(history)
        .when(request_top_up(4, 5_001, true, LIMITS, soon()))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 5_000 });
}

#[test]
fn the_daily_limit_resets_on_the_next_utc_day() {
    let late = at(21, 23, 0, 0);
    let full_day = decided([
        request_top_up(1, 10_000, true, LIMITS, late),
        request_top_up(2, 10_000, true, LIMITS, late),
        request_top_up(3, 5_000, false, LIMITS, late),
    ]);
    given::<Wallet>(full_day.clone())
        .when(request_top_up(4, 1, true, LIMITS, at(21, 23, 59, 59)))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 0 });

    let next_day = at(22, 0, 0, 0);
    let history: Vec<WalletEvent> = full_day
        .iter()
        .cloned()
        .chain(decided_after(&full_day, [request_top_up(4, 10_000, true, LIMITS, next_day)]))
        .collect();
    assert_eq!(Wallet::default().fold(&history).available, 30_000);
    given::<Wallet>(history)
        .when(request_top_up(5, 15_001, true, TopUpLimits { per_top_up: 25_000, ..LIMITS }, next_day))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 15_000 });
}

/// The events these commands add to `history`.
fn decided_after(
    history: &[WalletEvent],
    commands: impl IntoIterator<Item = WalletCommand>,
) -> Vec<WalletEvent> {
    let mut wallet = Wallet::default().fold(history);
    let mut events = Vec::new();
    for command in commands {
        for event in accepted(wallet.decide(&command)) {
            wallet.apply(&event);
            events.push(event);
        }
    }
    events
}

#[test]
fn a_confirmed_request_counts_on_the_day_it_was_requested() {
    let history = decided([
        request_top_up(1, 10_000, false, LIMITS, at(21, 23, 0, 0)),
        confirm_top_up(1, at(22, 9, 0, 0)),
        request_top_up(2, 10_000, true, LIMITS, at(22, 9, 0, 0)),
        request_top_up(3, 10_000, true, LIMITS, at(22, 9, 0, 0)),
    ]);
    assert_eq!(Wallet::default().fold(&history).available, 30_000);
    given::<Wallet>(history)
        .when(request_top_up(4, 5_001, true, LIMITS, at(22, 10, 0, 0)))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 5_000 });
}

#[test]
fn a_request_failed_on_a_later_day_does_not_free_that_days_limit() {
    let history = decided([
        request_top_up(1, 10_000, false, LIMITS, at(21, 23, 0, 0)),
        request_top_up(2, 10_000, true, LIMITS, at(22, 9, 0, 0)),
        request_top_up(3, 10_000, true, LIMITS, at(22, 9, 0, 0)),
        fail_top_up(1, at(22, 10, 0, 0)),
    ]);
    // 20 000 requested on the 22nd: 5 000 left, whatever happened to the 21st's request.
    given::<Wallet>(history)
        .when(request_top_up(4, 10_000, true, LIMITS, at(22, 11, 0, 0)))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 5_000 });
}

#[test]
fn a_wallet_remembers_a_bounded_number_of_settled_top_ups() {
    let count = u128::try_from(SETTLED_TOP_UPS_KEPT).unwrap_or_default() + 1;
    let history = decided((1..=count).map(|n| request_top_up(n, 1, true, UNLIMITED, now())));
    let wallet = Wallet::default().fold(&history);
    assert_eq!(wallet.settled_top_ups.len(), SETTLED_TOP_UPS_KEPT);
    assert_eq!(wallet.available, i64::try_from(count).unwrap_or_default());
    // The newest is still answered as already applied; the forgotten oldest is refused, not applied.
    assert_eq!(wallet.decide(&confirm_top_up(count, soon())), Ok(vec![]));
    assert_eq!(wallet.decide(&confirm_top_up(1, soon())), Err(LedgerError::TopUpNotFound));
}

#[test]
fn a_top_up_never_overflows_the_balance() {
    let history = decided([request_top_up(1, i64::MAX, true, UNLIMITED, now())]);
    assert_eq!(Wallet::default().fold(&history).available, i64::MAX);
    given::<Wallet>(history)
        .when(request_top_up(2, 1, true, UNLIMITED, now()))
        .then_error(LedgerError::Overflow);
}

// ---------------------------------------------------------------------------------------------
// Pending top-ups: capped per wallet, expired after the pending window
// ---------------------------------------------------------------------------------------------

/// When a top-up requested at `now()` is due to expire.
fn expiry_due() -> DateTime<Utc> {
    now() + pending_window()
}

#[test]
fn a_wallet_has_at_most_the_pending_cap_of_unconfirmed_top_ups() {
    let three = decided((1..=3).map(|n| request_top_up(n, 100, false, LIMITS, now())));
    assert_eq!(Wallet::default().fold(&three).pending_top_ups.len(), 3);
    given::<Wallet>(three.clone())
        .when(request_top_up(4, 100, false, LIMITS, soon()))
        .then_error(LedgerError::TooManyPendingTopUps { limit: 3 });
    // A top-up the provider confirms at once never waits, so the cap does not stop it.
    let at_once =
        accepted(Wallet::default().fold(&three).decide(&request_top_up(4, 100, true, LIMITS, soon())));
    assert_eq!(at_once.len(), 1);
    // A retry of a pending request is still answered, not counted again.
    given::<Wallet>(three).when(request_top_up(3, 100, false, LIMITS, soon())).then([]);
}

#[test]
fn a_settled_top_up_frees_its_place_under_the_pending_cap() {
    let requests = (1..=3).map(|n| request_top_up(n, 100, false, LIMITS, now()));
    for settle in [confirm_top_up(1, soon()), fail_top_up(1, soon()), expire_top_up(1, expiry_due())] {
        let history = decided(requests.clone().chain([settle]));
        let wallet = Wallet::default().fold(&history);
        assert_eq!(wallet.pending_top_ups.len(), 2);
        let next = accepted(wallet.decide(&request_top_up(4, 100, false, LIMITS, expiry_due())));
        assert_eq!(next.len(), 1);
    }
}

#[test]
fn a_top_up_pending_past_the_window_expires_moving_nothing() {
    let requested = decided([request_top_up(1, 500, false, LIMITS, now())]);
    let expired = sealed(
        WalletEventKind::TopUpExpired,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            occurred_at: expiry_due(),
            ..entry(ADA, 2, &requested[0].entry().hash)
        },
    );
    given::<Wallet>(requested.clone()).when(expire_top_up(1, expiry_due())).then([expired.clone()]);

    let history: Vec<WalletEvent> = requested.into_iter().chain([expired]).collect();
    let wallet = Wallet::default().fold(&history);
    assert_eq!((wallet.available, wallet.held), (0, 0));
    assert!(wallet.pending_top_ups.is_empty());
    assert_eq!(wallet.settlement(id(1)), Some(TopUpSettlement::Expired));
    // Expired once: a second sweep decides nothing.
    given::<Wallet>(history).when(expire_top_up(1, expiry_due())).then([]);
}

#[test]
fn a_top_up_is_not_expired_before_its_window_ends() {
    let requested = decided([request_top_up(1, 500, false, LIMITS, now())]);
    given::<Wallet>(requested).when(expire_top_up(1, expiry_due() - Duration::seconds(1))).then([]);
}

#[test]
fn a_settled_top_up_is_never_expired() {
    for settle in [confirm_top_up(1, soon()), fail_top_up(1, soon())] {
        let history = decided([request_top_up(1, 500, false, LIMITS, now()), settle]);
        given::<Wallet>(history).when(expire_top_up(1, expiry_due())).then([]);
    }
    given::<Wallet>(decided([request_top_up(1, 500, true, LIMITS, now())]))
        .when(expire_top_up(1, expiry_due()))
        .then([]);
    given::<Wallet>([]).when(expire_top_up(1, expiry_due())).then_error(LedgerError::TopUpNotFound);
}

#[test]
fn a_confirmation_after_expiry_credits_nothing() {
    let history = decided([request_top_up(1, 500, false, LIMITS, now()), expire_top_up(1, expiry_due())]);
    given::<Wallet>(history.clone())
        .when(confirm_top_up(1, expiry_due() + Duration::minutes(1)))
        .then_error(LedgerError::TopUpExpired);
    // A failure notice agrees with the expiry: nothing to do.
    given::<Wallet>(history.clone()).when(fail_top_up(1, expiry_due())).then([]);
    // Nor is the same top-up started again by a retried request.
    given::<Wallet>(history).when(request_top_up(1, 500, false, LIMITS, expiry_due())).then([]);
}

#[test]
fn the_daily_limit_ignores_expired_requests() {
    let history = decided([
        request_top_up(1, 10_000, true, LIMITS, now()),
        request_top_up(2, 10_000, false, LIMITS, now()),
        expire_top_up(2, expiry_due()),
        // Only allowed because the expired request no longer counts.
        request_top_up(3, 10_000, true, LIMITS, expiry_due()),
    ]);
    assert_eq!(Wallet::default().fold(&history).available, 20_000);
}
