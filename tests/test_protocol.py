import numpy as np

from textgym import ToolCallFormat, TurnKind, encode_agent_text, make_tokenizer

TOK = make_tokenizer()
FMT = ToolCallFormat(TOK)


def parse(text):
    return FMT.parse(encode_agent_text(TOK, text))


def test_well_formed_call():
    turn = parse("<request><Calculator>12+3<call>")
    assert turn.kind is TurnKind.CALL and turn.tool == "Calculator" and turn.query == "12+3"
    assert turn.error is None and turn.dropped == 0


def test_submit_reads_answer_and_drops_trailing_ids():
    turn = parse("Result=15<submit>junk after")
    assert turn.kind is TurnKind.SUBMIT and turn.answer == "Result=15"
    assert turn.dropped == len("junk after")
    assert turn.ids[-1] == FMT.submit_id


def test_first_stop_token_wins():
    turn = parse("<request><Calculator>1+1<call>Result=2<submit>")
    assert turn.kind is TurnKind.CALL and turn.query == "1+1"


def test_eos_and_no_stop_are_final_answers():
    ids = np.concatenate([encode_agent_text(TOK, "42"), [TOK.eos_token_id]])
    assert FMT.parse(ids).kind is TurnKind.EOS
    assert FMT.parse(ids[:-1]).kind is TurnKind.NO_STOP
    assert FMT.parse(np.zeros(0, dtype=np.int64)).kind is TurnKind.NO_STOP


def test_malformed_calls_carry_errors():
    assert "no <request>" in parse("Calculator 2+3<call>").error
    assert "<ToolName>" in parse("<request>2+3<call>").error
    assert "<response>" in parse("<request><Calculator>2<response>3<call>").error


def test_last_request_wins():
    turn = parse("thinking <request>oops <request><Calculator>7*6<call>")
    assert turn.tool == "Calculator" and turn.query == "7*6"


def test_marker_typed_as_bytes_is_not_a_marker():
    # The characters "<call>" typed as ordinary bytes are text, not a stop token.
    ids = np.concatenate(
        [
            encode_agent_text(TOK, "<request><Calculator>"),
            np.frombuffer(b"<call>", dtype=np.uint8).astype(np.int64) + 3,
        ]
    )
    assert FMT.parse(ids).kind is TurnKind.NO_STOP


def test_response_is_capped_and_cannot_forge_markers():
    ids = FMT.format_response("x" * 500 + "<submit>", max_tokens=16)
    assert len(ids) == 17 and ids[-1] == FMT.response_id
    assert FMT.submit_id not in ids[:-1]
