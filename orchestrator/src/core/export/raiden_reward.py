"""Reward function of a raiden-datagen export: 1.0 when the answer holds every keyword of the sample.

Standard library only. It reads keyword-rules.json and traditional-chinese.json from its own directory
(the export puts them there) and reproduces orchestrator/src/core/verify/keyword-match.ts step by step, so a
completion is scored with exactly the matching the generator's verifier used to accept the sample:
NFKC, invisible characters removed, lower case, traditional Chinese folded to simplified, punctuation
variants made one, CJK numerals written as digits; then tokens (numbers whole, CJK by character, Latin
words with a simple plural or possessive folded) compared as contiguous runs. A keyword passes in any of
its written forms (keyword_alternatives).

Only the answer is scored: a leading <think>...</think> block is dropped first (also when the chat template
opened it in the prompt, so the completion starts inside it); an unclosed block leaves no answer.

Entry points, one per trainer:
- verl: compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float
  (custom_reward_function.path / name; verl's reward managers call it with these keyword arguments).
- TRL GRPOTrainer: keyword_reward(completions, keywords, keyword_alternatives, **kwargs) -> list[float]
  (TRL passes every extra dataset column to a reward function as a keyword argument).
- EasyR1: easyr1_compute_score(reward_inputs) -> list[dict] (worker.reward.reward_function
  =./raiden_reward.py:easyr1_compute_score; REWARD_TYPE "batch").

Optional format term, off by default: format_weight=w (verl custom_reward_function.reward_kwargs,
EasyR1 worker.reward.reward_function_kwargs, or functools.partial for TRL) scores
(1 - w) * keywords + w * format, where format is 1.0 when the completion is one closed <think> block
followed by a non-empty answer.

Unicode: the matching follows the Unicode tables of the Python it runs on (unicodedata); it agrees with
the TypeScript verifier on every character both tables know (Python 3.11 knows Unicode 14).

Run `python3 raiden_reward.py` with JSON lines on stdin to check texts by hand: a line with "response"
and "ground_truth" prints its score; a line with "text" prints its canonical form and tokens, and with a
"keyword" (and "alternatives") whether the text contains it.
"""

import json
import os
import re
import sys
import unicodedata

REWARD_NAME = "raiden_keywords"
# EasyR1 reads REWARD_TYPE to call easyr1_compute_score once per batch (verl/workers/reward/function.py).
REWARD_TYPE = "batch"

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name):
    with open(os.path.join(_HERE, name), encoding="utf-8") as handle:
        return json.load(handle)


RULES = _load("keyword-rules.json")
_TRADITIONAL = _load("traditional-chinese.json")


def _range_test(ranges):
    bounds = [(int(low, 16), int(high, 16)) for low, high in ranges]
    return lambda code_point: any(low <= code_point <= high for low, high in bounds)


_is_invisible = _range_test(RULES["invisible"]["ranges"])
_is_cjk_code_point = _range_test(RULES["cjk"]["ranges"])

_PAIRS = _TRADITIONAL["pairs"]
_SIMPLIFIED = {_PAIRS[index]: _PAIRS[index + 1] for index in range(0, len(_PAIRS) - 1, 2)}

_PUNCTUATION = {}
for _canonical, _variants in RULES["punctuation"]["variants"].items():
    for _variant in _variants:
        _PUNCTUATION[_variant] = _canonical

_DIGITS = RULES["cjk_numerals"]["digits"]
_UNITS = RULES["cjk_numerals"]["units"]
_LARGE_UNITS = RULES["cjk_numerals"]["large_units"]
_NUMERAL_RUN = re.compile("[" + "".join(re.escape(c) for c in [*_DIGITS, *_UNITS, *_LARGE_UNITS]) + "]+")

# JavaScript's \s (and String.prototype.trim): Python's str.isspace also takes U+001C-U+001F and U+0085.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_SPACE_RUN = re.compile("[" + re.escape(_JS_SPACE) + "]+")
_ASCII_DIGITS = "0123456789"

_MIN_PLURAL = RULES["latin"]["min_plural_length"]
_KEEP_FINAL_S = tuple(RULES["latin"]["keep_final_s"])
_ASCII_WORD = re.compile("[a-z]+")


def cjk_numeral_value(run):
    """The value of a run of CJK numerals, or None when the run is not unambiguously a number."""
    chars = list(run)
    has_unit = any(c in _UNITS or c in _LARGE_UNITS for c in chars)
    if not has_unit:
        if len(chars) == 1 or "两" in chars:
            return None
        if not ("〇" in chars or "零" in chars or len(chars) == 4):
            return None
        return int("".join(str(_DIGITS[c]) for c in chars))
    if len(chars) == 1:
        return None
    total = 0
    section = 0
    digit = None
    last_unit = float("inf")
    last_large = float("inf")
    for index, char in enumerate(chars):
        if char in _DIGITS:
            value = _DIGITS[char]
            if value == 0:
                continue
            if digit is not None:
                return None
            digit = value
        elif char in _UNITS:
            unit = _UNITS[char]
            if digit is None:
                if not (unit == 10 and index == 0):
                    return None
                digit = 1
            if unit >= last_unit:
                return None
            section += digit * unit
            last_unit = unit
            digit = None
        else:
            unit = _LARGE_UNITS[char]
            section += digit or 0
            if section == 0 or unit >= last_large:
                return None
            total += section * unit
            last_large = unit
            section = 0
            last_unit = float("inf")
            digit = None
    if chars[0] == "两" and not (len(chars) > 1 and (chars[1] in _UNITS or chars[1] in _LARGE_UNITS)):
        return None
    return total + section + (digit or 0)


def _numeral_digits(match):
    value = cjk_numeral_value(match.group(0))
    return match.group(0) if value is None else str(value)


def canonical_text(text):
    """Step 1 of keyword-match.ts: the canonical text every comparison works on."""
    out = []
    for char in unicodedata.normalize("NFKC", text).lower():
        if _is_invisible(ord(char)):
            continue
        simplified = _SIMPLIFIED.get(char, char)
        out.append(_PUNCTUATION.get(simplified, simplified))
    joined = _NUMERAL_RUN.sub(_numeral_digits, "".join(out))
    return _JS_SPACE_RUN.sub(" ", joined).strip(_JS_SPACE)


def is_cjk_char(char):
    return _is_cjk_code_point(ord(char))


def _is_letter(char):
    return not is_cjk_char(char) and unicodedata.category(char)[0] in "LM"


def _number_end(text, start):
    """End of keyword-match.ts's number token at `start`: digits, then `,ddd` groups and `.d+` decimals."""
    end = start
    while end < len(text) and text[end] in _ASCII_DIGITS:
        end += 1
    while end < len(text):
        group = text[end + 1 : end + 4]
        if text[end] == "," and len(group) == 3 and all(c in _ASCII_DIGITS for c in group):
            if end + 4 < len(text) and text[end + 4] in _ASCII_DIGITS:
                break
            end += 4
        elif text[end] == "." and end + 1 < len(text) and text[end + 1] in _ASCII_DIGITS:
            end += 1
            while end < len(text) and text[end] in _ASCII_DIGITS:
                end += 1
        else:
            break
    return end


def _raw_tokens(canonical):
    """keyword-match.ts's TOKEN expression, one alternative after the other: number, CJK, word, other."""
    tokens = []
    index = 0
    while index < len(canonical):
        char = canonical[index]
        if char in _JS_SPACE:
            index += 1
            continue
        if char in _ASCII_DIGITS:
            end = _number_end(canonical, index)
            tokens.append((canonical[index:end].replace(",", ""), "number", index, end))
        elif is_cjk_char(char):
            end = index + 1
            tokens.append((char, "other", index, end))
        elif _is_letter(char):
            end = index + 1
            while end < len(canonical) and _is_letter(canonical[end]):
                end += 1
            tokens.append((canonical[index:end], "word", index, end))
        else:
            end = index + 1
            tokens.append((char, "other", index, end))
        index = end
    return tokens


def _fold_plural(word):
    if len(word) < _MIN_PLURAL or not _ASCII_WORD.fullmatch(word):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(_KEEP_FINAL_S):
        return word[:-1]
    return word


def match_tokens(text):
    """Step 2 of keyword-match.ts: the tokens of a text, folded for comparison."""
    raw = _raw_tokens(canonical_text(text))
    tokens = []
    index = 0
    while index < len(raw):
        text_, kind, _start, end = raw[index]
        following = raw[index + 1] if index + 1 < len(raw) else None
        after = raw[index + 2] if index + 2 < len(raw) else None
        third = raw[index + 3] if index + 3 < len(raw) else None
        if kind == "word" and following is not None and following[0] == "'" and following[2] == end:
            if (
                after is not None
                and after[0] == "s"
                and after[2] == following[3]
                and (third is None or third[1] != "word" or third[2] != after[3])
            ):
                tokens.append(_fold_plural(text_))
                index += 3
                continue
            if text_.endswith("s") and (after is None or after[2] > following[3] or after[1] != "word"):
                tokens.append(_fold_plural(text_))
                index += 2
                continue
        tokens.append(_fold_plural(text_) if kind == "word" else text_)
        index += 1
    return tokens


def match_key(text):
    tokens = match_tokens(text)
    return "" if not tokens else " " + " ".join(tokens) + " "


def key_contains(text_key, form):
    form_key = match_key(form)
    return form_key != "" and form_key in text_key


def contains_keyword(text, keyword, alternatives=()):
    """Steps 3 and 4: whether `text` contains the keyword or one of its alternatives."""
    key = match_key(text)
    return any(key_contains(key, form) for form in [keyword, *(alternatives or [])])


def answer_of(completion):
    """The answer of a completion: what follows a leading <think>...</think> block."""
    text = completion.lstrip()
    if text.startswith("<think>"):
        end = text.find("</think>")
        return "" if end < 0 else text[end + len("</think>") :]
    end = text.find("</think>")
    if end >= 0 and "<think>" not in text[:end]:
        return text[end + len("</think>") :]
    return text


def format_score(completion):
    """1.0 when the completion is one closed <think> block followed by a non-empty answer."""
    text = completion.lstrip()
    if not text.startswith("<think>") or text.count("<think>") != 1 or text.count("</think>") != 1:
        return 0.0
    return 1.0 if answer_of(text).strip() else 0.0


def _ground_truth(value):
    """verl and EasyR1 carry the ground truth as a JSON string; a dict is taken as it is."""
    return json.loads(value) if isinstance(value, str) else value


def keywords_score(answer, keywords, keyword_alternatives=None):
    """1.0 when the answer holds every keyword (each in any of its forms), as the verifier requires."""
    alternatives = keyword_alternatives or []
    for index, keyword in enumerate(keywords):
        forms = alternatives[index] if index < len(alternatives) and alternatives[index] else []
        if not contains_keyword(answer, keyword, forms):
            return 0.0
    return 1.0


def _score(completion, keywords, keyword_alternatives, format_weight):
    accuracy = keywords_score(answer_of(completion), keywords, keyword_alternatives)
    form = format_score(completion)
    return {"overall": (1 - format_weight) * accuracy + format_weight * form, "format": form, "accuracy": accuracy}


def compute_score(data_source, solution_str, ground_truth, extra_info=None, format_weight=0.0, **kwargs):
    """verl: the score of one decoded response; ground_truth is reward_model.ground_truth of the row."""
    truth = _ground_truth(ground_truth)
    return _score(solution_str, truth["keywords"], truth.get("keyword_alternatives"), format_weight)["overall"]


def _completion_text(completion):
    # TRL hands conversational completions as [{"role": "assistant", "content": ...}], plain ones as str.
    if isinstance(completion, str):
        return completion
    content = completion[-1].get("content", "") if completion else ""
    return content if isinstance(content, str) else ""


def keyword_reward(completions, keywords, keyword_alternatives=None, format_weight=0.0, **kwargs):
    """TRL GRPOTrainer: one score per completion, from the keywords and keyword_alternatives columns."""
    alternatives = keyword_alternatives or [None] * len(completions)
    return [
        _score(_completion_text(completion), row_keywords, row_alternatives, format_weight)["overall"]
        for completion, row_keywords, row_alternatives in zip(completions, keywords, alternatives)
    ]


def easyr1_compute_score(reward_inputs, format_weight=0.0):
    """EasyR1 (REWARD_TYPE batch): {"overall", "format", "accuracy"} per {"response", "ground_truth"}."""
    scores = []
    for reward_input in reward_inputs:
        truth = _ground_truth(reward_input["ground_truth"])
        scores.append(_score(reward_input["response"], truth["keywords"], truth.get("keyword_alternatives"), format_weight))
    return scores


def _check(line):
    request = json.loads(line)
    if "response" in request:
        truth = request["ground_truth"]
        return {"score": compute_score(request.get("data_source", ""), request["response"], truth)}
    result = {"canonical": canonical_text(request["text"]), "tokens": match_tokens(request["text"])}
    if "keyword" in request:
        result["contains"] = contains_keyword(request["text"], request["keyword"], request.get("alternatives") or [])
    return result


if __name__ == "__main__":
    for input_line in sys.stdin:
        if input_line.strip():
            sys.stdout.write(json.dumps(_check(input_line), ensure_ascii=False) + "\n")
