"""Accounts, cart, checkout and orders through a real web instance in front of a real app instance."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import count

import pytest
from webstack import Browser, Stack, api_admin_token, api_create_product, idempotency_key, running_stack

_emails = count(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("web-shop"), [("home", "Home")]) as s:
        token = api_admin_token(s)
        api_create_product(s, token, sku="MUG", name="Blue Mug", category_id=1, price_cents=450, stock=1000)
        api_create_product(s, token, sku="LAMP", name="Desk Lamp", category_id=1, price_cents=2599, stock=1)
        yield s


@pytest.fixture
def browser(stack: Stack) -> Iterator[Browser]:
    b = Browser(stack.web_url)
    yield b
    b.close()


@pytest.fixture
def shopper(stack: Stack) -> Iterator[Browser]:
    b = Browser(stack.web_url)
    b.signup(f"shopper{next(_emails)}@example.com", "Sam Shopper")
    yield b
    b.close()


def pid(stack: Stack, sku: str) -> int:
    return stack.count("SELECT id FROM products WHERE sku = ?", sku)


def add(b: Browser, product_id: int, quantity: int) -> None:
    response = b.submit(f"/p/{product_id}", f"/cart/items/{product_id}/add", {"quantity": str(quantity)})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/cart"


def place_order(b: Browser) -> int:
    page = b.get("/checkout")
    assert page.status_code == 200
    response = b.post("/checkout", {"idempotency_key": idempotency_key(page.text)})
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/orders/(\d+)", response.headers["location"])
    assert found
    return int(found.group(1))


def test_adding_to_cart_while_signed_out_leads_to_sign_in_and_back(stack: Stack, browser: Browser) -> None:
    mug = pid(stack, "MUG")
    response = browser.submit(f"/p/{mug}", f"/cart/items/{mug}/add", {"quantity": "1"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin?next=/p/{mug}"
    page = browser.get(response.headers["location"])
    assert f'name="next" value="/p/{mug}"' in page.text
    response = browser.post("/signup", {"email": "comeback@example.com", "name": "Cora",
                                        "password": "long enough pw", "next": f"/p/{mug}"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/p/{mug}"


def test_sign_in_refuses_to_redirect_off_site(browser: Browser) -> None:
    browser.signup("offsite@example.com", "Otto")
    browser.submit("/", "/signout")
    response = browser.submit("/signin", "/signin", {"email": "offsite@example.com",
                                                    "password": "correct horse battery",
                                                    "next": "//evil.example/"})
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_wrong_password_is_refused_with_a_message_and_the_email_kept(browser: Browser) -> None:
    browser.signup("wrongpw@example.com", "Wanda")
    browser.submit("/", "/signout")
    response = browser.submit("/signin", "/signin", {"email": "wrongpw@example.com", "password": "nope nope"})
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert 'value="wrongpw@example.com"' in response.text
    assert browser.get("/cart").status_code == 303


def test_ten_wrong_sign_ins_then_the_right_one_get_the_too_many_attempts_page(browser: Browser) -> None:
    browser.signup("hammered@example.com", "Hana")
    browser.submit("/", "/signout")
    statuses = [browser.submit("/signin", "/signin", {"email": "hammered@example.com",
                                                     "password": f"guess {i}"}).status_code for i in range(10)]
    response = browser.submit("/signin", "/signin", {"email": "hammered@example.com",
                                                    "password": "correct horse battery"})

    assert statuses == [401] * 5 + [429] * 5  # the default limit: 5 failures per account
    assert response.status_code == 429
    assert re.search(r"Too many attempts; try again in 1[45] minutes\.", response.text)
    assert 840 <= int(response.headers["retry-after"]) <= 900
    assert browser.get("/cart").status_code == 303  # still signed out


def test_sign_up_with_a_taken_email_shows_a_message_that_does_not_say_it_is_taken(stack: Stack,
                                                                                 browser: Browser) -> None:
    browser.signup("taken@example.com", "Tina")
    browser.submit("/", "/signout")
    response = browser.submit("/signup", "/signup", {"email": "taken@example.com", "name": "Tom",
                                                    "password": "long enough pw"})
    assert response.status_code == 400
    assert "We could not open an account with these details." in response.text
    assert "already" not in response.text and "taken" not in response.text.replace("taken@example.com", "")
    assert stack.count("SELECT count(*) FROM customers WHERE email = ?", "taken@example.com") == 1
    assert browser.get("/cart").status_code == 303


def test_signing_up_again_with_the_accounts_own_password_just_signs_in(stack: Stack, browser: Browser) -> None:
    browser.signup("forgetful@example.com", "Fay")
    browser.submit("/", "/signout")
    again = browser.signup("forgetful@example.com", "Fay Again")
    assert again.status_code == 303
    assert browser.get("/cart").status_code == 200
    assert stack.count("SELECT count(*) FROM customers WHERE email = ?", "forgetful@example.com") == 1


def test_cart_and_orders_need_a_signed_in_customer(browser: Browser) -> None:
    for path in ("/cart", "/checkout", "/orders", "/orders/1"):
        response = browser.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?next={path}"


def test_a_customer_buys_what_is_in_the_cart(stack: Stack, shopper: Browser) -> None:
    mug = pid(stack, "MUG")
    add(shopper, mug, 2)
    add(shopper, mug, 1)
    cart = shopper.get("/cart")
    assert 'name="quantity" value="3"' in cart.text
    assert "$13.50" in cart.text

    response = shopper.post(f"/cart/items/{mug}", {"quantity": "2"})
    assert response.status_code == 303
    assert "$9.00" in shopper.get("/cart").text

    checkout = shopper.get("/checkout")
    assert "$9.00" in checkout.text
    key = idempotency_key(checkout.text)
    response = shopper.post("/checkout", {"idempotency_key": key})
    assert response.status_code == 303
    location = response.headers["location"]
    order_id = int(location.rsplit("/", 1)[1])

    order = shopper.get(location)
    assert order.status_code == 200
    assert "Blue Mug" in order.text and "$9.00" in order.text and "$4.50" in order.text
    history = shopper.get("/orders")
    assert f'href="/orders/{order_id}"' in history.text
    assert "Your cart is empty" in shopper.get("/cart").text

    # The same form posted again (a double click, a retry) places no second order.
    again = shopper.post("/checkout", {"idempotency_key": key})
    assert again.status_code == 303
    assert again.headers["location"] == location
    assert stack.count("SELECT COUNT(*) FROM orders WHERE id >= ?", order_id) == 1


def test_items_can_be_removed_from_the_cart(stack: Stack, shopper: Browser) -> None:
    mug = pid(stack, "MUG")
    add(shopper, mug, 1)
    assert "Blue Mug" in shopper.get("/cart").text
    response = shopper.post(f"/cart/items/{mug}/remove")
    assert response.status_code == 303
    assert "Your cart is empty" in shopper.get("/cart").text


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(stack: Stack, shopper: Browser) -> None:
    mug = pid(stack, "MUG")
    shopper.get(f"/p/{mug}")
    lines_before = stack.count("SELECT COUNT(*) FROM cart_items")
    missing = shopper.post(f"/cart/items/{mug}/add", {"quantity": "1"}, csrf=False)
    assert missing.status_code == 403
    wrong = shopper.post(f"/cart/items/{mug}/add", {"quantity": "1", "csrf_token": "forged"}, csrf=False)
    assert wrong.status_code == 403
    assert stack.count("SELECT COUNT(*) FROM cart_items") == lines_before
    # Sign-out is a state change too: without the token the customer stays signed in.
    assert shopper.post("/signout", csrf=False).status_code == 403
    assert shopper.get("/cart").status_code == 200


def test_a_customer_cannot_see_another_customers_order(stack: Stack, shopper: Browser) -> None:
    add(shopper, pid(stack, "MUG"), 1)
    order_id = place_order(shopper)
    other = Browser(stack.web_url)
    try:
        other.signup(f"nosy{next(_emails)}@example.com", "Nosy Parker")
        response = other.get(f"/orders/{order_id}")
        assert response.status_code == 404
        assert "Page not found" in response.text
        assert "Blue Mug" not in response.text
    finally:
        other.close()


def test_checkout_of_a_sold_out_product_explains_on_the_cart_page(stack: Stack, shopper: Browser) -> None:
    lamp = pid(stack, "LAMP")
    rival = Browser(stack.web_url)
    try:
        rival.signup(f"rival{next(_emails)}@example.com", "Rita Rival")
        add(shopper, lamp, 1)
        add(rival, lamp, 1)
        place_order(rival)
        page = shopper.get("/checkout")
        response = shopper.post("/checkout", {"idempotency_key": idempotency_key(page.text)})
        assert response.status_code == 409
        assert 'class="alert"' in response.text
        assert "Desk Lamp" in response.text and "left in stock" in response.text
    finally:
        rival.close()


def test_sign_out_forgets_the_customer(shopper: Browser) -> None:
    assert shopper.get("/cart").status_code == 200
    response = shopper.submit("/", "/signout")
    assert response.status_code == 303
    assert shopper.get("/cart").status_code == 303
    assert "Sign in" in shopper.get("/").text


def test_a_token_the_app_tier_no_longer_accepts_signs_the_browser_out(stack: Stack, shopper: Browser) -> None:
    assert shopper.get("/orders").status_code == 200
    # Every token revoked at once, as if each had expired.
    assert stack.count("SELECT COUNT(*) FROM auth_tokens") > 0
    import sqlite3

    with sqlite3.connect(stack.db_path) as db:
        db.execute("DELETE FROM auth_tokens")
    response = shopper.get("/orders")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/orders"
    assert "Sign in" in shopper.get("/").text
