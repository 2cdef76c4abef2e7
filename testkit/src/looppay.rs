//! LoopPay from a client's side: top-ups, transfers, payments, refunds, balances, statements.

use crate::accounts::User;
use crate::app::TestApp;
use crate::client::Reply;
use crate::values::int;
use serde_json::json;
use uuid::Uuid;

impl TestApp {
    pub async fn top_up(&self, user: &User, amount: i64, key: Option<&str>) -> Reply {
        self.command(&user.token, "/api/looppay/topup", &json!({"amount": amount}), key).await
    }

    pub async fn transfer(
        &self,
        user: &User,
        to: Uuid,
        amount: i64,
        note: Option<&str>,
        key: Option<&str>,
    ) -> Reply {
        let mut body = json!({"to": to, "amount": amount});
        if let Some(note) = note {
            body["note"] = json!(note);
        }
        self.command(&user.token, "/api/looppay/transfer", &body, key).await
    }

    pub async fn pay(&self, user: &User, to: &str, amount: i64, reference: &str, key: Option<&str>) -> Reply {
        let body = json!({"to": to, "amount": amount, "reference": reference});
        self.command(&user.token, "/api/looppay/pay", &body, key).await
    }

    pub async fn refund(
        &self,
        user: &User,
        payment_id: Uuid,
        amount: Option<i64>,
        key: Option<&str>,
    ) -> Reply {
        let body = match amount {
            Some(amount) => json!({"amount": amount, "reason": "returned"}),
            None => json!({"reason": "returned"}),
        };
        self.command(&user.token, &format!("/api/looppay/payments/{payment_id}/refund"), &body, key).await
    }

    /// A new user with `amount` topped up (dev provider); returns the top-up's position.
    pub async fn funded(&self, amount: i64) -> (User, String) {
        let user = self.signup().await;
        let reply = self.top_up(&user, amount, None).await;
        let body = reply.created();
        assert_eq!(body["status"], "confirmed", "{}", reply.text);
        (user, reply.pos())
    }

    /// `(available, held)` from `GET /balance`, fresh as of `position`.
    pub async fn balance(&self, user: &User, position: &str) -> (i64, i64) {
        let reply = self.get_at(&user.token, "/api/looppay/balance", Some(position)).await;
        let body = reply.fresh();
        assert_eq!(body["currency"], "LOOP", "{}", reply.text);
        (int(&body["available"]), int(&body["held"]))
    }

    /// The caller's transactions (`query` without `?`), fresh as of `position`.
    pub async fn transactions(&self, user: &User, query: &str, position: &str) -> Reply {
        let path = if query.is_empty() {
            "/api/looppay/transactions".to_owned()
        } else {
            format!("/api/looppay/transactions?{query}")
        };
        self.get_at(&user.token, &path, Some(position)).await
    }
}
