"""PDF: the text layer of each page, one section per page, via pypdf."""

from __future__ import annotations

import io

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.limits import DEFAULT_LIMITS, text_too_long
from askdocs.settings import ParseSettings

SCANNED_MESSAGE = (
    "no extractable text (scanned PDF? OCR is not enabled); run OCR on it first "
    "(for example with ocrmypdf) or export it again as a PDF with a text layer"
)
_CORRUPT = "the PDF is corrupt or truncated ({reason}); open and re-save or re-export it"
_ENCRYPTED = (
    "the PDF is password-protected; save an unprotected copy (for example print it to PDF) "
    "and add that instead"
)


def parse(data: bytes, limits: ParseSettings = DEFAULT_LIMITS) -> ParsedDocument:
    """Parse a PDF into one section per page with text; ``page`` is the 1-based page number.

    Refuses more than ``limits.max_pdf_pages`` pages before reading any, and stops as soon as
    the text passes ``limits.max_text_chars``.
    """
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt(reader)
        pages = len(reader.pages)
        if pages > limits.max_pdf_pages:
            raise ParseError(
                f"the PDF has {pages:,} pages, more than the limit of {limits.max_pdf_pages:,} "
                "(setting parse.max_pdf_pages); split it into smaller files"
            )
        builder = DocumentBuilder(media.PDF)
        chars = 0
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text()
            chars += len(text)
            if chars > limits.max_text_chars:
                raise text_too_long(limits)
            builder.add(text, page=number)
    except ParseError:
        raise
    except FileNotDecryptedError as exc:
        raise ParseError(_ENCRYPTED) from exc
    except DependencyError as exc:
        raise ParseError(
            "the PDF uses AES encryption, which needs the 'cryptography' package; install it "
            "(pip install cryptography) or save an unencrypted copy"
        ) from exc
    except LimitReachedError as exc:
        raise ParseError(
            "a stream in the PDF inflates past the reader's safety limit, which only "
            "decompression bombs do; re-export the PDF from its application"
        ) from exc
    except RecursionError as exc:
        raise ParseError(_CORRUPT.format(reason="objects nested too deeply")) from exc
    # pypdf reports damage with many exception types besides PdfReadError (zlib, struct,
    # index, key and value errors from its layers); all mean the same to the user.
    except Exception as exc:
        raise ParseError(_CORRUPT.format(reason=_reason(exc))) from exc
    return builder.build(SCANNED_MESSAGE)


def _decrypt(reader: PdfReader) -> None:
    # Most "encrypted" PDFs only restrict printing or copying and open with an empty password.
    if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise ParseError(_ENCRYPTED)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:120] if text else type(exc).__name__
