"""Declarative portal recipes: a supplier's form-login portal described as data.

Most supplier portals work the same way: a login form, sometimes a code, sometimes a page
to accept, then a table of invoices with a link to each PDF. A recipe says where each of
those things is on one portal; `RecipeConnector` does the rest. Adding a supplier is
writing a TOML file, not code. `demo_supplier.toml` beside this module is a complete
example, for the portal in `courier/demo_supplier`.

Loading
-------
`load_recipe(path)`, `loads_recipe(text)` and `builtin_recipe("demo_supplier")` return a
frozen `Recipe`, or raise `RecipeError` whose `field` is the dotted path of the faulty key
("login.password_field", "invoices.columns.date.selector", "action_required[0].reason").
Unknown keys are errors too, so a misspelt key never silently does nothing.

Building blocks
---------------
- selector: a CSS selector (as in a browser's devtools); checked when the file is read.
- probe: `{ selector = "..." }` and/or `{ text = "..." }`: the page matches when the
  selector finds a node, or when the page's visible text contains the text (ignoring
  case). With both, either is enough.
- column: `{ selector = "...", attribute = "href", pattern = "..." }`: the first node the
  selector finds (inside the row, for invoice columns), its text or the given attribute,
  whitespace collapsed; then, if `pattern` is given, the first group of its first match
  (or the whole match when it has no group).
- URLs may be relative: they are joined to the connector's base URL (or the page's URL,
  for links found on a page).

The file
--------
Top level:
    key       (required) the supplier's catalog key; also the throttle's key.
    name      (required) a display name.
    base_url  (optional) the portal's address; the connector's `base_url=` overrides it.

[login] — the password step:
    url             (required) the page holding the login form.
    form            (required) selector of the form (or of a node inside it). Its action
                    and method are used, and every field it would send (hidden fields,
                    ticked boxes, selected options) is sent along.
    login_field     (required) name of the login input.
    password_field  (required) name of the password input.
    csrf_field      (optional) name of the CSRF input. Its value is copied from the form like
                    every hidden field; naming it makes its absence a LayoutChanged.
    success         (required) probe of a signed-in page (e.g. the logout link).
    failure         (required) probe of the "wrong login or password" message.
    extra_fields    (optional) table of name = value to add to the post.
    account_label   (optional) column read on the signed-in page as LoggedIn.account_label.

[two_factor] — optional; the code step:
    detect            (required) probe of the page asking for a code.
    form              (required) selector of the code form.
    code_field        (required) name of the code input.
    rejected          (required) probe of the "wrong or expired code" message.
    destination       (optional) column of the masked destination ("••••12"); the text of
                      the node it selects becomes CodeRequest.prompt.
    remember_field    (optional) name of the "remember this device" checkbox, ticked.
    channels          (optional) array of { contains = "...", channel = "..." }: the first
                      rule whose text the prompt contains gives CodeRequest.channel.
    default_channel   (optional, "page") channel when no rule matches. Channels: page,
                      email, sms, totp, app, email_link.
    code_ttl_minutes  (optional) the code's lifetime, as CodeRequest.expires_in.
[two_factor.approval] — optional; "approve the login in your app" instead of a code:
    detect       (required) probe of the page that asks for the approval. Checked before
                 the code page: login() then returns an ApprovalRequest (masked
                 destination from `destination`, as for a code).
    poll_url     (required) the page `poll_approval()` reloads: while it still matches
                 `detect` the approval is pending; a signed-in page means approved.
    denied       (required) probe of "refused" or "expired" → ApprovalDenied; so is the
                 site sending back to the login form.
    ttl_minutes  (optional) how long the site waits, as ApprovalRequest.expires_in.

[[action_required]] — zero or more pages that block the way until the user acts:
    reason  (required) the reason carried by ActionRequired ("terms", "password_expired").
    detect  (required) probe of that page. Checked after login, after the code, on restore
            and on every invoice page.

[session] — how `restore()` tells a saved session is still good:
    url        (required) a page behind the login.
    logged_in  (required) probe of that page when signed in.

[invoices] — the list, newest first:
    url                (required) the list's URL with "{page}" where the number goes.
    first_page         (optional, 1) the first page's number.
    max_pages          (optional, 50) a stop against endless paging.
    row                (required) selector of one invoice row.
    empty              (optional) probe of the "no invoices" message. Without rows and
                       without it, the first page is a LayoutChanged.
    next               (optional) selector of the "next page" link: paging stops when it is
                       absent; its href is followed (else "{page}" + 1). Without `next`,
                       pages are numbered until one has no rows.
    date_formats       (required) strptime formats tried in turn ("%d/%m/%Y", "%Y-%m-%d").
    decimal_separator  (optional, ",") "," for "1 234,56 €", "." for "€1,234.56".
    currency           (optional) ISO code when the amount shows no symbol.
[invoices.columns] — columns read inside each row:
    reference  (required) the supplier's own id for the invoice (InvoiceRef.reference).
    date       (required) the issue date, read with `date_formats`.
    download   (required) the link to the file, usually `attribute = "href"`.
    amount     (optional) the total; its currency symbol (€, $, £) is recognised.

[download] — optional:
    accept    (optional, ["application/pdf"]) what a download may be: application/pdf,
              image/png, image/jpeg, image/tiff. Anything else (an HTML error page served
              as invoice.pdf, a cut-off PDF) is InvalidDownload.
    filename  (optional, "{reference}.pdf") the stored file's name.

How failures map
----------------
- login form, field or row not found, a date or amount not readable, the page after a step
  matching nothing expected, a form refused with 400/403 → LayoutChanged
- the login `failure` probe → LoginRefused
- the code `rejected` probe, or the site sending back to the login form → CodeRejected
- the approval `denied` probe, or the login form while polling → ApprovalDenied
- an `action_required` probe → ActionRequired(reason)
- timeouts, unreachable, 5xx, 429 (after bounded retries), a session lost mid-run →
  SupplierUnavailable
- a download that is not an accepted type → InvalidDownload

`invoices(since)` yields the rows dated on or after `since` and stops paging at the first
page holding an older row; `listed` then counts the rows of the pages it read, whatever
their date (0 only for a list that shows none, the `empty` probe). `save()` returns the
cookies (session and "remember this device"); `restore()` puts them back and checks the
`[session]` page.
"""

from __future__ import annotations

from core.suppliers.recipes.engine import RecipeConnector
from core.suppliers.recipes.format import (
    builtin_recipe,
    load_recipe,
    loads_recipe,
    parse_recipe,
)
from core.suppliers.recipes.model import Recipe
from core.suppliers.recipes.reader import RecipeError

__all__ = [
    "Recipe",
    "RecipeConnector",
    "RecipeError",
    "builtin_recipe",
    "load_recipe",
    "loads_recipe",
    "parse_recipe",
]
