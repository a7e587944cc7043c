"""Rules on senders (SPEC 9): who an email comes from, and how it leaves."""

from __future__ import annotations

from collections.abc import Iterator

from campaign_gitops.config.bundle import Entry
from campaign_gitops.config.models import CampaignSpec, ClientSpec
from campaign_gitops.config.project import TRANSPORT_CHANNELS
from campaign_gitops.config.schema import did_you_mean
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import E, Hit, W, always, rule


def _sends_email(entry: Entry, ctx: RuleContext) -> bool:
    spec: CampaignSpec = entry.resource.spec
    return "email" in spec.channels() or any(s.channel == "email" for s in ctx.steps(entry))


@rule("PF020", ("Campaign",), always(E),
      description="email campaign without a sender: no client sender, no default fromAddress")
def campaign_without_sender(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """An email campaign needs someone to send from: one of the client's
    ``spec.senders`` (narrowed by the campaign's ``senders``), or the email transport's
    ``fromAddress``. Only an ``smtp`` email transport is checked for the latter: the
    outbox sends nothing and a webhook's receiver sets From itself. A campaign's
    ``senders`` entry that is not one of the client's senders is reported too."""
    spec: CampaignSpec = entry.resource.spec
    client: ClientSpec | None = ctx.client_spec(entry.key.client)
    if client is None or not _sends_email(entry, ctx):
        return
    known = {s.email.lower(): s.email for s in client.sender_list}
    for i, email in enumerate(spec.senders or ()):
        if email.lower() not in known:
            hint = did_you_mean(email, list(known.values())) or (
                f"the client's senders: {', '.join(known.values())}" if known
                else "add it to the client's spec.senders")
            yield Hit(f"{email} is not a sender of client {entry.key.client!r}",
                      ("spec", "senders", i), hint, value=True)
    allowed = [e for e in known if spec.senders is None
               or e in {x.lower() for x in spec.senders}]
    if allowed:
        return
    transport = ctx.config.transports.get("email")
    if transport is None or transport.type != "smtp" or transport.from_address:
        return
    path = ("spec", "senders") if spec.senders is not None else ("spec", "channel")
    yield Hit(f"email campaign {entry.key.name!r} has no sender: client "
              f"{entry.key.client!r} has none"
              + (" of those listed" if spec.senders else "")
              + " and transports.email has no fromAddress", path,
              "add spec.senders to the client (name, email) or fromAddress to "
              "transports.email in campaign-gitops.yaml")


@rule("PF021", ("Client",), always(W),
      description="sender domain is not the client's emailDomain or a subdomain")
def sender_domain(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A sender's address should be on the client's ``resources.emailDomain`` (or a
    subdomain of it, e.g. mail.acme.com): mail from another domain fails DMARC alignment
    with the domain the client has set up."""
    spec: ClientSpec = entry.resource.spec
    domain = (spec.resources.email_domain or "").lower().strip(".")
    if not domain:
        return
    for i, sender in enumerate(spec.sender_list):
        own = sender.domain
        if own != domain and not own.endswith("." + domain):
            yield Hit(f"sender {sender.email} is not on the client's emailDomain {domain}",
                      ("spec", "senders", i, "email"),
                      f"send from an address @{domain} or a subdomain of it, or change "
                      "resources.emailDomain", value=True)


@rule("PF022", ("Client",), always(E),
      description="a sender with no transport able to deliver email")
def sender_without_transport(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A sender's ``transport`` names a transport of campaign-gitops.yaml: it must be
    defined, and an ``smtp`` one needs a ``host``. A channel name (sms, voice...) is not
    an email transport."""
    spec: ClientSpec = entry.resource.spec
    transports = ctx.config.transports
    for i, sender in enumerate(spec.sender_list):
        name = sender.transport
        if name is None:
            continue
        path = ("spec", "senders", i, "transport")
        settings = transports.get(name)
        if (name in TRANSPORT_CHANNELS and name != "email") or name == "phone":
            yield Hit(f"sender {sender.email} points at the {name} channel's transport",
                      path, "name a transport that delivers email (smtp or webhook)",
                      value=True)
        elif settings is None:
            named = [t for t in transports if t not in TRANSPORT_CHANNELS]
            hint = did_you_mean(name, named) or (
                f"named transports: {', '.join(named)}" if named else
                f"add transports: {{{name}: {{type: smtp, host: …}}}} to campaign-gitops.yaml")
            yield Hit(f"sender {sender.email}: no transport {name!r} in campaign-gitops.yaml",
                      path, hint, value=True)
        elif settings.type == "smtp" and not settings.host:
            yield Hit(f"sender {sender.email}: transport {name!r} is smtp without a host",
                      path, f"set transports.{name}.host in campaign-gitops.yaml", value=True)
