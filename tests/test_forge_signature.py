"""Webhook signatures as each forge computes them, against GitHub's
published test vector, and the delivery ids kept across a restart."""
from __future__ import annotations

import pytest

from gateq.drivers.forge.deliveries import DeliveryLog
from gateq.drivers.forge.signature import BadSignature, Scheme, sign, verify

# docs.github.com, "Validating webhook deliveries": the example secret, payload and signature.
GITHUB_SECRET = b"It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_published_vector_verifies():
    verify(Scheme.HUB_SHA256, GITHUB_SECRET, {"X-Hub-Signature-256": GITHUB_SIGNATURE},
           GITHUB_PAYLOAD)
    assert sign(Scheme.HUB_SHA256, GITHUB_SECRET, GITHUB_PAYLOAD) == \
        {"X-Hub-Signature-256": GITHUB_SIGNATURE}


def test_gitea_signs_with_the_same_hmac_in_bare_hex():
    bare = GITHUB_SIGNATURE[len("sha256="):]
    for header in ("X-Gitea-Signature", "X-Forgejo-Signature"):
        verify(Scheme.GITEA, GITHUB_SECRET, {header: bare}, GITHUB_PAYLOAD)
    with pytest.raises(BadSignature, match="X-Gitea-Signature does not match"):
        verify(Scheme.GITEA, GITHUB_SECRET, {"X-Gitea-Signature": GITHUB_SIGNATURE},
               GITHUB_PAYLOAD)


@pytest.mark.parametrize("scheme, headers, message", [
    (Scheme.HUB_SHA256, {}, "unsigned delivery: no X-Hub-Signature-256 header"),
    (Scheme.HUB_SHA256, {"X-Hub-Signature-256": GITHUB_SIGNATURE[7:]}, "not of the form sha256=HEX"),
    (Scheme.HUB_SHA256, {"X-Hub-Signature-256": GITHUB_SIGNATURE[:-1] + "f"}, "does not match"),
    (Scheme.GITEA, {}, "no X-Gitea-Signature or X-Forgejo-Signature header"),
    (Scheme.GITLAB_TOKEN, {"X-Gitlab-Token": "It's a secret to everybody"}, "does not match"),
    (Scheme.GITLAB_TOKEN, {"X-Gitlab-Token": "é"}, "does not match"),
])
def test_a_delivery_not_signed_with_the_secret_is_refused(scheme, headers, message):
    with pytest.raises(BadSignature, match=message):
        verify(scheme, GITHUB_SECRET, headers, GITHUB_PAYLOAD)


def test_a_changed_body_fails_the_signature_made_for_the_original():
    headers = sign(Scheme.HUB_SHA256, GITHUB_SECRET, GITHUB_PAYLOAD)
    with pytest.raises(BadSignature):
        verify(Scheme.HUB_SHA256, GITHUB_SECRET, headers, GITHUB_PAYLOAD + b" ")


def test_gitlab_sends_the_secret_itself():
    verify(Scheme.GITLAB_TOKEN, GITHUB_SECRET, {"X-Gitlab-Token": GITHUB_SECRET.decode()}, b"{}")


def test_delivery_ids_are_refused_again_after_a_restart(tmp_path):
    log = DeliveryLog.of(str(tmp_path), "forge")
    assert log.claim("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert not log.claim("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = DeliveryLog.of(str(tmp_path), "forge")          # another process, or a restart
    assert not again.claim("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again.release("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert log.claim("72d3162e-cc78-11e3-81ab-4c9367dc0958")
