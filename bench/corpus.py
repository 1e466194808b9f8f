"""A deterministic, realistic mail corpus for the fetch benchmark.

Message *i* of seed *s* is always the same bytes (each message has its own ``random.Random``
seeded from ``(s, i)``), so a 1,000-message mailbox is exactly the first 1,000 messages of the
5,000-message one.

Mix (defaults; see :class:`CorpusSpec`):

* most messages: ``text/plain``, 2-8 KB body, in utf-8 (8bit / quoted-printable),
  iso-8859-1 (quoted-printable), koi8-r (8bit or base64) or shift_jis (base64);
* ~10 %: ``multipart/alternative`` (text + HTML, quoted-printable), a few with very long lines;
* ``attach_share`` (3 %): ``multipart/mixed`` with one base64 attachment whose *encoded* size is
  log-uniform between ``attach_min_mb`` and ``attach_max_mb`` (0.5-3 MB);
* realistic headers: Received chain, DKIM-Signature, List-Id sometimes, RFC 2047 subjects and
  display names in the message's charset;
* some body lines start with ``.`` (POP3 dot-stuffing on the wire).

Files are written with LF line ends, as an MDA stores them in a Maildir; Dovecot sends CRLF.
"""

from __future__ import annotations

import base64
import math
import quopri
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime


def _vocab(text: str) -> list[str]:
    return text.split()


EN = _vocab(
    "the meeting report project budget quarter review please find attached draft version "
    "schedule team update customer invoice contract delivery next week monday friday thanks "
    "regards following discussed agreed proposal numbers figures results summary action items "
    "deadline release server database backup network migration planning estimate cost travel "
    "office conference call agenda minutes notes feedback question answer issue ticket support "
    "a an of to in for on with at by from about as into over after before this that these those "
    "we you they it is are was were be been will would should could can may might must have has"
)
LATIN1 = _vocab(
    "réunion procès-verbal équipe été déjà très où garçon français naïve crème brûlée "
    "Grüße Straße Müller Größe Übersicht Änderung für schön über Bärbel Köln "
    "año señor mañana niño acción información canción España Málaga"
)
RUSSIAN = _vocab(
    "встреча отчёт проект бюджет квартал пожалуйста приложение версия график команда "
    "обновление клиент счёт договор поставка неделя понедельник пятница спасибо "
    "привет обсуждение предложение итоги сервер база данных резервная копия сеть"
)
JAPANESE = _vocab(
    "会議 資料 確認 お願いします よろしく 明日 東京 予定 報告 ありがとうございます "
    "プロジェクト 予算 見積もり 納品 契約 請求書 担当者 ご連絡 変更 日程 "
    "サーバー データベース 移行 打ち合わせ 議事録 添付ファイル 今週 来週"
)
NAMES = {
    "utf-8": ["Zoë Faßbender", "Ana Muñoz", "Łukasz Żółć", "Søren Ølgaard", "Chloé Dubois"],
    "iso-8859-1": ["François Lefèvre", "Jürgen Müller", "Inés Álvarez", "Björn Åström"],
    "koi8-r": ["Иван Петров", "Мария Сидорова", "Алексей Смирнов", "Ольга Кузнецова"],
    "shift_jis": ["山田 太郎", "佐藤 花子", "鈴木 一郎", "田中 美咲"],
    "us-ascii": ["John Smith", "Alice Walker", "Bob Martin", "Carol White", "Dave Brown"],
}
DOMAINS = ["example.com", "example.org", "mail.example.net", "corp.example", "lists.example.org"]
ATTACHMENTS = [
    ("application/pdf", "report-{n}.pdf"),
    ("image/jpeg", "IMG_{n}.jpg"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "budget-{n}.xlsx"),
    ("application/zip", "archive-{n}.zip"),
]
EPOCH = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class CorpusSpec:
    seed: int = 20240301
    html_share: float = 0.10
    attach_share: float = 0.03
    attach_min_mb: float = 0.5
    attach_max_mb: float = 3.0


def _words(rng: random.Random, vocab: list[str], count: int) -> list[str]:
    return rng.choices(vocab, k=count)


def _paragraphs(rng: random.Random, charset: str, target: int) -> list[str]:
    """Text paragraphs of roughly `target` encoded bytes, in the charset's language."""
    vocab = {
        "koi8-r": RUSSIAN + EN[:10],
        "shift_jis": JAPANESE,
        "iso-8859-1": EN + LATIN1,
        "utf-8": EN + LATIN1 + RUSSIAN[:8],
        "us-ascii": EN,
    }[charset]
    sep = "" if charset == "shift_jis" else " "
    paras: list[str] = []
    size = 0
    while size < target:
        words = _words(rng, vocab, rng.randint(25, 90))
        text = sep.join(words)
        text = text[0].upper() + text[1:] + ("。" if charset == "shift_jis" else ".")
        paras.append(text)
        size += len(text.encode(charset, "replace")) + 2
    return paras


def _wrap(text: str, width: int) -> list[str]:
    if " " not in text:  # Japanese: no spaces, cut by characters
        return [text[i : i + width // 2] for i in range(0, len(text), width // 2)] or [""]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines


def _plain_text(rng: random.Random, charset: str, target: int, dotted: bool) -> str:
    lines: list[str] = []
    for para in _paragraphs(rng, charset, target):
        lines.extend(_wrap(para, 72))
        lines.append("")
    if dotted:
        # Lines beginning with a dot: dot-stuffed by the server, un-stuffed by the client.
        at = rng.randrange(len(lines))
        lines[at:at] = [".", "...and one more thing", ". indented with a dot", ".."]
    lines += ["-- ", "Sent from the benchmark corpus generator"]
    return "\n".join(lines) + "\n"


def _encoded_word(text: str, charset: str, rng: random.Random) -> str:
    """RFC 2047 encoded words (B or Q), split so each stays under 75 characters."""
    if charset == "us-ascii":
        return text
    mode = "B" if charset in ("koi8-r", "shift_jis") or rng.random() < 0.5 else "Q"
    words = []
    step = 8 if charset == "shift_jis" else 16
    for i in range(0, len(text), step):
        raw = text[i : i + step].encode(charset, "replace")
        if mode == "B":
            payload = base64.b64encode(raw).decode("ascii")
        else:
            payload = "".join(
                chr(b)
                if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122)
                else ("_" if b == 32 else f"={b:02X}")
                for b in raw
            )
        words.append(f"=?{charset}?{mode}?{payload}?=")
    return "\n ".join(words)


def _address(rng: random.Random, charset: str) -> str:
    pool = NAMES[charset] if rng.random() < 0.7 else NAMES["us-ascii"]
    name = rng.choice(pool)
    local = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalpha()) or "user"
    addr = f"{local}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
    if name.isascii():
        return f'"{name}" <{addr}>'
    return f"{_encoded_word(name, charset if charset != 'us-ascii' else 'utf-8', rng)} <{addr}>"


def _headers(rng: random.Random, index: int, charset: str, seed: int) -> tuple[list[str], str]:
    when = EPOCH + timedelta(minutes=7 * index + rng.randint(0, 6), seconds=rng.randint(0, 59))
    date = format_datetime(when)
    hops = []
    for hop in range(rng.randint(2, 4)):
        hops.append(
            f"Received: from mx{hop}.{rng.choice(DOMAINS)} (mx{hop}.{rng.choice(DOMAINS)} "
            f"[192.0.2.{rng.randint(1, 254)}])\n\tby mail.example.com (Postfix) with ESMTPS id "
            f"{rng.getrandbits(40):010X}\n\tfor <you@example.com>; {date}"
        )
    subject_words = _paragraphs(rng, charset, 40)[0].split(" ")[:8]
    subject_text = (" " if charset != "shift_jis" else "").join(subject_words)[:60].rstrip(".。")
    if rng.random() < 0.3:
        subject_text = "Re: " + subject_text
    dkim = base64.b64encode(rng.randbytes(192)).decode("ascii")
    headers = [
        "Return-Path: <bounces@example.org>",
        "Delivered-To: you@example.com",
        *hops,
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1;\n"
        "\th=from:to:subject:date:message-id; bh="
        + dkim[:44]
        + ";\n\tb="
        + "\n\t ".join(dkim[i : i + 70] for i in range(44, len(dkim), 70)),
        f"From: {_address(rng, charset)}",
        f"To: {_address(rng, charset)}, you@example.com",
    ]
    if rng.random() < 0.3:
        headers.append(f"Cc: {_address(rng, charset)}, {_address(rng, 'us-ascii')}")
    headers += [
        f"Subject: {_encoded_word(subject_text, charset, rng)}",
        f"Date: {date}",
        f"Message-ID: <bench.{seed}.{index}.{rng.getrandbits(32):08x}@example.org>",
        "MIME-Version: 1.0",
        f"X-Mailer: {rng.choice(['Thunderbird 115.8', 'Apple Mail (2.3774)', 'Outlook 16.0'])}",
    ]
    if rng.random() < 0.2:
        headers.append("List-Id: Team announcements <team.lists.example.org>")
    return headers, date


def _text_part(rng: random.Random, charset: str, target: int, dotted: bool) -> tuple[str, bytes]:
    """(headers, body bytes) of a text/plain part in `charset` with a fitting encoding."""
    text = _plain_text(rng, charset, target, dotted)
    raw = text.encode(charset, "replace")
    if charset == "shift_jis" or (charset == "koi8-r" and rng.random() < 0.5):
        cte, body = "base64", base64.encodebytes(raw)
    elif charset == "iso-8859-1" or (charset == "utf-8" and rng.random() < 0.5):
        cte, body = "quoted-printable", quopri.encodestring(raw)
    elif charset == "us-ascii":
        cte, body = "7bit", raw
    else:
        cte, body = "8bit", raw
    head = (
        f"Content-Type: text/plain; charset={charset}; format=flowed\n"
        f"Content-Transfer-Encoding: {cte}"
    )
    return head, body


def _html_body(rng: random.Random, charset: str, target: int) -> bytes:
    paras = _paragraphs(rng, charset, target)
    rows = "".join(
        f'<tr><td style="padding:4px">{i}</td><td>{rng.randint(100, 99999)}</td></tr>'
        for i in range(rng.randint(3, 12))
    )
    body = "".join(f'<p style="margin:0 0 1em 0;font-family:Arial">{p}</p>\n' for p in paras)
    html = (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">'
        f'</head>\n<body>\n{body}<table border="1">{rows}</table>\n</body></html>\n'
    )
    if rng.random() < 0.15:
        html = html.replace("\n", "")  # a mailer that writes one very long line
    return quopri.encodestring(html.encode(charset, "replace"))


def message(index: int, spec: CorpusSpec = CorpusSpec()) -> bytes:
    """Message `index` of the corpus (LF line ends)."""
    rng = random.Random(f"{spec.seed}:{index}")
    roll = rng.random()
    charset = rng.choices(
        ["utf-8", "us-ascii", "iso-8859-1", "koi8-r", "shift_jis"], [45, 20, 15, 10, 10]
    )[0]
    headers, _date = _headers(rng, index, charset, spec.seed)
    target = rng.randint(1000, 6000)  # body text; with ~1.5 KB of headers: 2-8 KB
    dotted = rng.random() < 0.05
    boundary = f"=_bench_{index}_{rng.getrandbits(48):012x}"
    out: list[bytes] = []

    def put(text: str) -> None:
        out.append(text.encode("ascii"))

    if roll < spec.attach_share:
        low, high = math.log(spec.attach_min_mb), math.log(spec.attach_max_mb)
        encoded_size = int(math.exp(rng.uniform(low, high)) * 1024 * 1024)
        blob = rng.randbytes(encoded_size * 3 // 4)
        ctype, pattern = rng.choice(ATTACHMENTS)
        filename = pattern.format(n=index)
        text_head, text_body = _text_part(rng, charset, target // 3, dotted)
        put("\n".join(headers) + f'\nContent-Type: multipart/mixed; boundary="{boundary}"\n\n')
        put(f"This is a multi-part message in MIME format.\n\n--{boundary}\n{text_head}\n\n")
        out.append(text_body)
        put(
            f'\n--{boundary}\nContent-Type: {ctype}; name="{filename}"\n'
            f'Content-Disposition: attachment; filename="{filename}"\n'
            "Content-Transfer-Encoding: base64\n\n"
        )
        out.append(base64.encodebytes(blob))
        put(f"--{boundary}--\n")
    elif roll < spec.attach_share + spec.html_share:
        text_head, text_body = _text_part(rng, charset, target // 2, dotted)
        put(
            "\n".join(headers)
            + f'\nContent-Type: multipart/alternative; boundary="{boundary}"\n\n'
            + f"--{boundary}\n{text_head}\n\n"
        )
        out.append(text_body)
        put(
            f"\n--{boundary}\nContent-Type: text/html; charset={charset}\n"
            "Content-Transfer-Encoding: quoted-printable\n\n"
        )
        out.append(_html_body(rng, charset, target // 2))
        put(f"\n--{boundary}--\n")
    else:
        text_head, text_body = _text_part(rng, charset, target, dotted)
        put("\n".join(headers) + "\n" + text_head + "\n\n")
        out.append(text_body)
    return b"".join(out)


def messages(count: int, spec: CorpusSpec = CorpusSpec()) -> Iterator[bytes]:
    for index in range(count):
        yield message(index, spec)


if __name__ == "__main__":  # a quick look: python bench/corpus.py 200
    import sys
    from collections import Counter

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    sizes = [len(m) for m in messages(n)]
    kinds: Counter[str] = Counter()
    for m in messages(min(n, 500)):
        head = m[: m.find(b"\n\n")]
        kinds[
            "mixed"
            if b"multipart/mixed" in head
            else "alternative"
            if b"multipart/alternative" in head
            else "plain"
        ] += 1
    print(
        f"{n} messages, {sum(sizes) / 1e6:.1f} MB, median {sorted(sizes)[n // 2]} B, "
        f"max {max(sizes)} B, kinds (first 500): {dict(kinds)}"
    )
