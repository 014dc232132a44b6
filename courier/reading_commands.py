"""The command line's reading actions: read files without storing them, show a document,
and review it (the question the chat would ask next, and the answer to it)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import AnswerInvalid, NotFound
from core.extraction import ExtractionError, invoice_to_dict
from core.extraction.sandbox import read_document, shutdown_sandbox
from core.models import DocumentState
from core.permissions import OPERATOR
from core.services.documents import get_document
from core.services.review import Question, answer_question, ask_next
from core.services.workspaces import get_workspace
from core.sniff import sniff_content_type
from courier.document_view import (
    COLUMNS,
    field_rows,
    note_lines,
    notes_for_json,
    read_fields,
    warnings_of,
)
from courier.output import emit_json, emit_record, emit_table, human
from courier.runtime import open_runtime

# The states a review question can be answered in (core.services.review.answer_question).
REVIEWABLE = (DocumentState.INBOX, DocumentState.NEEDS_REVIEW)


async def extract(args: argparse.Namespace, settings: Settings) -> int:
    """Each file is read in the sandbox; one that cannot be read gets an error, the others
    go on. Nothing is stored."""
    results: list[dict[str, Any]] = []
    try:
        for path in args.files:
            content = await asyncio.to_thread(Path(path).read_bytes)
            try:
                data = await read_document(content, sniff_content_type(content, Path(path).name))
            except ExtractionError as err:
                results.append({"file": str(path), "error": err.reason})
                continue
            results.append({"file": str(path), **invoice_to_dict(data)})
    finally:
        shutdown_sandbox()
    if args.json:
        emit_json(results)
    else:
        for index, result in enumerate(results):
            if index:
                print()
            print(f"== {result['file']}")
            if "error" in result:
                emit_record([("error", result["error"])])
                continue
            emit_table(field_rows(result), COLUMNS, empty="nothing read")
            if warnings := warnings_of(result):
                emit_record([("warnings", warnings)])
    return 1 if any("error" in r for r in results) else 0


async def inbox_show(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.read() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        if workspace.id is None:
            raise NotFound(kind="workspace", ident=args.workspace)
        document = await get_document(
            session=session, workspace_id=workspace.id, document_id=args.id
        )
    fields = document.fields or {}
    if args.json:
        emit_json(
            {
                "id": document.id,
                "filename": document.filename,
                "source": document.source,
                "supplier": document.supplier_name,
                "issue_date": document.issue_date,
                "total_amount": document.total_amount,
                "currency": document.currency,
                "state": document.state,
                "reason": document.state_reason,
                "fields": read_fields(fields),
                "warnings": warnings_of(fields),
                "notes": notes_for_json(fields),
            }
        )
        return 0
    total = " ".join(human(v) for v in (document.total_amount, document.currency) if v)
    state = f"{human(document.state)} ({document.state_reason})" if document.state_reason else None
    emit_record(
        [
            ("document", document.id),
            ("file", document.filename),
            ("source", document.source),
            ("supplier", document.supplier_name),
            ("date", document.issue_date),
            ("total", total),
            ("state", state or document.state),
            *note_lines(fields),
            *([("warnings", warnings)] if (warnings := warnings_of(fields)) else []),
        ]
    )
    print()
    emit_table(field_rows(fields), COLUMNS, empty="no field read yet")
    return 0


async def inbox_review(args: argparse.Namespace, settings: Settings) -> int:
    """Without --answer, prints the next question; with it, stores the answer first."""
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        if workspace.id is None:
            raise NotFound(kind="workspace", ident=args.workspace)
        question: Question | None
        document = await get_document(
            session=session, workspace_id=workspace.id, document_id=args.id
        )
        if document.state not in REVIEWABLE:
            # A published or archived document's question could not be answered anyway.
            if args.json:
                emit_json(None)
            else:
                held = f" ({document.state_reason})" if document.state_reason else ""
                print(f"document {args.id} is {document.state}{held}: nothing to review")
            return 0
        if args.answer is None:
            question = await ask_next(
                session=session, workspace_id=workspace.id, document_id=args.id
            )
        else:
            field, sep, value = args.answer.partition("=")
            if not sep:
                raise AnswerInvalid(field=field, reason="expected FIELD=VALUE")
            question = await answer_question(
                session=session,
                workspace_id=workspace.id,
                document_id=args.id,
                field=field.strip(),
                answer=value,
                by=OPERATOR,  # the server's operator: the table does not bind them
            )
    shown = (
        None
        if question is None
        else {
            "field": question.field,
            "key": question.key,
            "read": question.read,
            "choices": list(question.choices),
        }
    )
    if args.json:
        emit_json(shown)
    elif question is None:
        print("nothing to ask")
    else:
        print(f"{question.field}: {question.read or '?'}  [{' | '.join(question.choices)}]")
    return 0
