"""Customers and their sign-in tokens."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy import Connection

from lakefront.data.repos import inserted_id
from lakefront.data.repos.rows import CustomerRow, CustomerWithHash, TokenOwner
from lakefront.data.tables import auth_tokens, customers

_PUBLIC = (customers.c.id, customers.c.email, customers.c.name, customers.c.is_admin)


class CustomerRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, email: str, name: str, password_hash: str, now: datetime) -> int:
        result = self.conn.execute(customers.insert().values(
            email=email, name=name, password_hash=password_hash, is_admin=False, created_at=now, updated_at=now))
        return inserted_id(result)

    def add_if_new(self, email: str, name: str, password_hash: str, now: datetime) -> int | None:
        """The new customer's id, or None when the email is taken (also when a concurrent sign-up won)."""
        if self.conn.execute(sa.select(customers.c.id).where(customers.c.email == email)).first() is not None:
            return None
        try:
            with self.conn.begin_nested():  # a savepoint: losing the race must not spoil the transaction
                return self.add(email, name, password_hash, now)
        except sa.exc.IntegrityError:
            return None

    def by_email(self, email: str) -> CustomerWithHash | None:
        row = self.conn.execute(sa.select(*_PUBLIC, customers.c.password_hash)
                                .where(customers.c.email == email)).first()
        return None if row is None else cast(CustomerWithHash, dict(row._mapping))

    def by_id(self, customer_id: int) -> CustomerRow | None:
        row = self.conn.execute(sa.select(*_PUBLIC).where(customers.c.id == customer_id)).first()
        return None if row is None else cast(CustomerRow, dict(row._mapping))

    def set_password_hash(self, customer_id: int, password_hash: str, now: datetime) -> None:
        self.conn.execute(customers.update().where(customers.c.id == customer_id)
                          .values(password_hash=password_hash, updated_at=now))

    def add_token(self, token_hash: str, customer_id: int, now: datetime, expires_at: datetime) -> None:
        self.conn.execute(auth_tokens.insert().values(token_hash=token_hash, customer_id=customer_id,
                                                      created_at=now, expires_at=expires_at))

    def by_token(self, token_hash: str) -> TokenOwner | None:
        """The token's customer with the token's created_at and expires_at, expired or not."""
        row = self.conn.execute(
            sa.select(*_PUBLIC, auth_tokens.c.created_at, auth_tokens.c.expires_at)
            .join(auth_tokens, auth_tokens.c.customer_id == customers.c.id)
            .where(auth_tokens.c.token_hash == token_hash)).first()
        return None if row is None else cast(TokenOwner, dict(row._mapping))

    def renew_token(self, token_hash: str, expires_at: datetime) -> None:
        # Never backwards: two instances renewing one token at once both leave the later expiry.
        self.conn.execute(auth_tokens.update().where(auth_tokens.c.token_hash == token_hash,
                                                     auth_tokens.c.expires_at < expires_at)
                          .values(expires_at=expires_at))

    def delete_token(self, token_hash: str) -> None:
        self.conn.execute(auth_tokens.delete().where(auth_tokens.c.token_hash == token_hash))

    def delete_expired_tokens(self, customer_id: int, now: datetime) -> None:
        self.conn.execute(auth_tokens.delete().where(auth_tokens.c.customer_id == customer_id,
                                                     auth_tokens.c.expires_at <= now))
