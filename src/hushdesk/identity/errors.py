"""Errors of signing in and of the second factor. Browsers are sent to the page that resolves
them; API clients get the code."""

from __future__ import annotations

from urllib.parse import quote

from hushdesk.infra.errors import PermissionDenied, Unauthenticated


class SecondFactorRequired(Unauthenticated):
    code = "second_factor_required"
    default_message = "Confirm it is you with your second factor to continue."
    browser_location = "/login/verify"


class MfaEnrolmentRequired(PermissionDenied):
    code = "mfa_enrolment_required"
    default_message = "Set up two-step verification before you continue."
    browser_location = "/account/security"


class SignInAgainRequired(PermissionDenied):
    """A first second factor is set up only soon after signing in with the password: a
    session found unattended must not be able to add a factor of its own to the account."""

    code = "sign_in_again"
    default_message = "Sign in again to set up two-step verification: this sign-in is too old."


class StepUpRequired(PermissionDenied):
    """A sensitive action, and the second factor was presented too long ago."""

    code = "step_up_required"
    default_message = "This action needs you to confirm it is you again."

    def __init__(self, next_path: str) -> None:
        super().__init__()
        # Only a local path is ever put in the link (no open redirect).
        safe = next_path if next_path.startswith("/") and not next_path.startswith("//") else "/dashboard"
        self.browser_location = f"/account/step-up?next={quote(safe, safe='/')}"
