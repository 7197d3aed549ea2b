"""Reward function of a raiden-datagen export: pays for a right answer, not for the keywords' words alone.

Standard library only. It reads keyword-rules.json, traditional-chinese.json and answer-guards.json from its
own directory (the export puts them there) and reproduces, step by step, the matching of
orchestrator/src/core/verify/keyword-match.ts (NFKC, invisible characters removed, lower case, traditional
Chinese folded to simplified, punctuation variants made one, CJK numerals written as digits; then tokens:
dates as their numbers, numbers whole, CJK by character, Latin words with a simple plural or possessive
folded, compared as contiguous runs) and the answer guards of orchestrator/src/core/verify/answer-guards.ts.

The answer: every <think>...</think> block is dropped wherever it stands (also one the chat template opened
in the prompt, so the completion starts inside it); nothing after an unclosed <think> counts.
The score: keywords (1.0 when the answer holds every keyword, each in any of its keyword_alternatives)
times, for each guard the answer fails, (1 - its penalty) from answer-guards.json (reward.penalty, 1.0 by
default, so a failed guard pays nothing). The guards, judged against the row's ground truth: negation (a
keyword denied), hedge (other numbers than the fact's, or a choice offered between values), distractor (CM:
the distractor or a part of it named), recital (more than recital.max_rivals other profile values or user
details), length (over length.multiple x the reference answer, at least length.floor_chars), language (not
in the prompt's language), in_character (an out-of-character phrase the profile does not use itself).

Entry points, one per trainer:
- verl: compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict with
  "score" (the reward), "keywords", "guards", "format" and one 0/1 "guard_<name>" per guard, which verl's
  reward managers log (reward.custom_reward_function.path / name in current verl).
- TRL GRPOTrainer: keyword_reward(completions, ground_truth, **kwargs) -> list[float] (TRL passes every
  extra dataset column to a reward function as a keyword argument; the ground_truth column is a JSON string).
- EasyR1: easyr1_compute_score(reward_inputs) -> list[dict] with "overall", "accuracy", "format", "guards"
  and the guard columns (worker.reward.reward_function=./raiden_reward.py:easyr1_compute_score; batch).

Optional format term, off by default: format_weight=w (verl reward_kwargs, EasyR1
worker.reward.reward_function_kwargs, or functools.partial for TRL) scores (1 - w) * accuracy + w * format,
where format is 1.0 when the completion is one closed <think> block followed by a non-empty answer. Keep
w at most 0.2: a completion that fails a guard can then earn at most w.

Unicode: the matching follows the Unicode tables of the Python it runs on (unicodedata); it agrees with
the TypeScript verifier on every character both tables know (Python 3.11 knows Unicode 14).

Run `python3 raiden_reward.py` with JSON lines on stdin to check texts by hand: a line with "response"
and "ground_truth" prints its score, its parts and the guards it fails; a line with "text" prints its
canonical form and tokens, and with a "keyword" (and "alternatives") whether the text contains it.
"""

import functools
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

    # A trainer scores thousands of completions: each code point is looked up once.
    @functools.lru_cache(maxsize=65536)
    def test(code_point):
        return any(low <= code_point <= high for low, high in bounds)

    return test


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

# keyword-match.ts's date token: 03.03.1984 and 1984/3/3 are three numbers, leading zeros dropped.
_DATE = re.compile(r"([0-9]{1,4})([./-])([0-9]{1,2})\2([0-9]{1,4})(?![0-9]|[./-][0-9])")
_LEADING_ZEROS = re.compile(r"^0+(?=[0-9])")

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
    """keyword-match.ts's TOKEN expression, one alternative after the other: date, number, CJK, word, other."""
    tokens = []
    index = 0
    while index < len(canonical):
        char = canonical[index]
        if char in _JS_SPACE:
            index += 1
            continue
        date = _DATE.match(canonical, index) if char in _ASCII_DIGITS else None
        if date is not None:
            end = date.end()
            for part in (date.group(1), date.group(3), date.group(4)):
                tokens.append((_LEADING_ZEROS.sub("", part), "number", index, end))
        elif char in _ASCII_DIGITS:
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
    return list(_tokens_of(text))


# The guards ask for the same answer's, keyword's and rival's tokens many times per completion.
@functools.lru_cache(maxsize=4096)
def _tokens_of(text):
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
    return tuple(tokens)


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


# answer-guards.ts, step by step: what makes an answer that holds the keywords still wrong.
GUARDS = _load("answer-guards.json")
GUARD_NAMES = ("negation", "hedge", "distractor", "recital", "length", "language", "in_character")
_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def answer_text(completion):
    """Rule 1 of answer-guards.ts: every think block dropped, a template-opened one too; nothing after an unclosed one."""
    text = completion
    first_close = text.find(_THINK_CLOSE)
    first_open = text.find(_THINK_OPEN)
    if first_close >= 0 and (first_open < 0 or first_close < first_open):
        text = text[first_close + len(_THINK_CLOSE) :]
    opening = text.find(_THINK_OPEN)
    while opening >= 0:
        close = text.find(_THINK_CLOSE, opening + len(_THINK_OPEN))
        if close < 0:
            text = text[:opening]
            break
        text = text[:opening] + text[close + len(_THINK_CLOSE) :]
        opening = text.find(_THINK_OPEN)
    return "".join(text.split(_THINK_CLOSE)).strip(_JS_SPACE)


def number_value(token):
    return _LEADING_ZEROS.sub("", token)


def _is_number_token(token):
    return token[:1] in _ASCII_DIGITS and token != ""


def numbers_in(text):
    return [token for token in match_tokens(text) if _is_number_token(token)]


def _forms(truth):
    alternatives = truth.get("keyword_alternatives") or []
    return [
        [keyword, *(alternatives[index] if index < len(alternatives) and alternatives[index] else [])]
        for index, keyword in enumerate(truth.get("keywords") or [])
    ]


def _occurrences(tokens, part):
    if not part:
        return []
    return [start for start in range(len(tokens) - len(part) + 1) if tokens[start : start + len(part)] == part]


_CLAUSE_BOUNDARIES = set(GUARDS["negation"]["clause_boundaries"])
_NEGATION_CUES = [match_tokens(cue) for cue in GUARDS["negation"]["en"] + GUARDS["negation"]["zh"]]
_CONTRACTION = re.compile(r"[a-z]*n")


def _negated_at(tokens, at):
    start = at
    while start > 0 and at - start < GUARDS["negation"]["window_tokens"] and tokens[start - 1] not in _CLAUSE_BOUNDARIES:
        start -= 1
    window = tokens[start:at]
    contraction = any(
        _CONTRACTION.fullmatch(token) and window[index + 1 : index + 3] == ["'", "t"] for index, token in enumerate(window)
    )
    return contraction or _cue_in(window, _NEGATION_CUES) is not None


_HEDGE = GUARDS["hedge"]
_HEDGE_CUES = [match_key(cue) for kind in ("doubt", "choice") for language in ("en", "zh") for cue in _HEDGE[kind][language]]
_DOUBT_TOKENS = [match_tokens(cue) for cue in _HEDGE["doubt"]["en"] + _HEDGE["doubt"]["zh"]]
_CHOICE_TOKENS = [match_tokens(cue) for cue in _HEDGE["choice"]["en"] + _HEDGE["choice"]["zh"]]
_SENTENCE_BOUNDARIES = set(_HEDGE["sentence_boundaries"])


def _cue_in(window, cues):
    for index in range(len(window)):
        for cue in cues:
            if index + len(cue) <= len(window) and window[index : index + len(cue)] == cue:
                return "".join(cue)
    return None


def _hedge_cue_near(tokens, start, end):
    """A doubt word within hedge.window_tokens tokens of a keyword span, or a choice word after it, in its sentence."""
    window_tokens = _HEDGE["window_tokens"]
    before = start
    while before > 0 and start - before < window_tokens and tokens[before - 1] not in _SENTENCE_BOUNDARIES:
        before -= 1
    after = end
    while after < len(tokens) and after - end < window_tokens and tokens[after] not in _SENTENCE_BOUNDARIES:
        after += 1
    found = _cue_in(tokens[before:start], _DOUBT_TOKENS)
    if found is None:
        found = _cue_in(tokens[end:after], _DOUBT_TOKENS)
    if found is None:
        found = _cue_in(tokens[end:after], _CHOICE_TOKENS)
    return found


_MONTH_NAMES = {name for name in GUARDS["months"] if name != "_about"}
_NUMBER_UNITS = GUARDS["numbers"]
_FOUR_DIGITS = re.compile(r"[0-9]{4}")


def number_kind(tokens, at):
    """answer-guards.ts numberKind: an age, a year, a month, a day, a unit or plain, from the tokens around it."""
    token = tokens[at]
    following = tokens[at + 1] if at + 1 < len(tokens) else ""
    previous = tokens[at - 1] if at > 0 else ""
    if following in _NUMBER_UNITS["age_units"] or (following == "year" and at + 2 < len(tokens) and tokens[at + 2] == "old"):
        return "age"
    if following in _NUMBER_UNITS["year_units"]:
        return "year"
    if following in _NUMBER_UNITS["month_units"]:
        return "month"
    if following in _NUMBER_UNITS["day_units"]:
        return "day"
    unit = _is_word_token(following) or _is_cjk_token(following)
    if _FOUR_DIGITS.fullmatch(token) and 1000 <= int(token) <= 2999 and (not unit or following in _MONTH_NAMES):
        return "year"
    if previous in _MONTH_NAMES or following in _MONTH_NAMES:
        return "day"
    return "unit:" + following if unit else "plain"


def _number_kinds(text):
    tokens = match_tokens(text)
    return {number_kind(tokens, index) for index, token in enumerate(tokens) if _is_number_token(token)}
_OUT_OF_CHARACTER = GUARDS["out_of_character"]["en"] + GUARDS["out_of_character"]["zh"]


def _is_cjk_token(token):
    return len(token) == 1 and is_cjk_char(token)


def _is_word_token(token):
    return token != "" and unicodedata.category(token[0])[0] == "L" and not _is_cjk_token(token)


def _unique(items):
    return list(dict.fromkeys(items))


def _json(value):
    return json.dumps(value, ensure_ascii=False)


def guard_failures(answer, truth):
    """Rules 2 to 8 of answer-guards.ts: [(guard, detail)] for each guard the answer (already answer_text) fails."""
    failures = []
    tokens = match_tokens(answer)
    key = "" if not tokens else " " + " ".join(tokens) + " "
    forms = [form for group in _forms(truth) for form in group]
    spans = []
    for form in forms:
        form_tokens = match_tokens(form)
        spans.extend((at, at + len(form_tokens), form) for at in _occurrences(tokens, form_tokens))

    negated = next((span for span in spans if _negated_at(tokens, span[0])), None)
    if negated is not None:
        failures.append(("negation", "denies the keyword " + _json(negated[2])))

    allowed = {number_value(number) for number in truth.get("allowed_numbers") or []}
    # The fact's kinds: of the keyword's numbers as written, and as the answer writes them (62 said as 62岁).
    kinds = set()
    for form in forms:
        kinds |= _number_kinds(form)
    for start, end, _form in spans:
        kinds |= {number_kind(tokens, at) for at in range(start, end) if _is_number_token(tokens[at])}
    others = [
        value
        for value in _unique(
            number_value(token) for index, token in enumerate(tokens) if _is_number_token(token) and number_kind(tokens, index) in kinds
        )
        if value not in allowed
    ]
    rivals_found = _unique(rival for rival in truth.get("rivals") or [] if key_contains(key, rival))
    hedged = any(cue != "" and cue in key for cue in _HEDGE_CUES)
    near_cue = next((cue for cue in (_hedge_cue_near(tokens, start, end) for start, end, _form in spans) if cue is not None), None)
    if others:
        failures.append(("hedge", "holds other values of the fact's kind: " + ", ".join(others)))
    elif near_cue is not None:
        failures.append(("hedge", 'offers a choice or a doubt ("%s") beside the keyword' % near_cue))
    elif hedged and rivals_found:
        failures.append(("hedge", "offers a choice with " + _json(rivals_found[0])))

    distractor = next((form for form in truth.get("distractors") or [] if key_contains(key, form)), None)
    if distractor is not None:
        failures.append(("distractor", "names the distractor (%s)" % _json(distractor)))

    if len(rivals_found) > GUARDS["recital"]["max_rivals"]:
        shown = ", ".join(_json(rival) for rival in rivals_found[:3])
        failures.append(("recital", "names %d other values (%s, ...)" % (len(rivals_found), shown)))

    reference = truth.get("reference_answer")
    if reference is not None:
        limit = max(GUARDS["length"]["floor_chars"], GUARDS["length"]["multiple"] * len(reference))
        if len(answer) > limit:
            failures.append(("length", "has %d characters; at most %d" % (len(answer), limit)))

    in_keyword = {index for start, end, _form in spans for index in range(start, end)}
    cjk = words = 0
    for index, token in enumerate(tokens):
        if index in in_keyword:
            continue
        if _is_cjk_token(token):
            cjk += 1
        elif _is_word_token(token):
            words += 1
    language = truth.get("language")
    if language in ("zh", "en") and cjk + words > 0 and ((cjk < words or cjk == 0) if language == "zh" else words <= cjk):
        name = "Chinese" if language == "zh" else "English"
        failures.append(("language", "is not written in %s (%d CJK characters, %d Latin words)" % (name, cjk, words)))

    allowed_phrases = {canonical_text(phrase) for phrase in truth.get("in_character") or []}
    out_of_character = next(
        (p for p in _OUT_OF_CHARACTER if canonical_text(p) not in allowed_phrases and key_contains(key, p)), None
    )
    if out_of_character is not None:
        failures.append(("in_character", 'steps out of character ("%s")' % out_of_character))
    return failures


def format_score(completion):
    """1.0 when the completion is one leading, closed <think> block followed by a non-empty answer."""
    text = completion.lstrip(_JS_SPACE)
    if not text.startswith(_THINK_OPEN) or text.count(_THINK_OPEN) != 1 or text.count(_THINK_CLOSE) != 1:
        return 0.0
    return 1.0 if answer_text(text) else 0.0


def _ground_truth(value):
    """verl and EasyR1 carry the ground truth as a JSON string; a dict is taken as it is."""
    return json.loads(value) if isinstance(value, str) else value


def keywords_score(answer, keywords, keyword_alternatives=None):
    """1.0 when the answer holds every keyword (each in any of its forms), as the verifier requires."""
    key = match_key(answer)
    truth = {"keywords": keywords, "keyword_alternatives": keyword_alternatives}
    return 1.0 if all(any(key_contains(key, form) for form in forms) for forms in _forms(truth)) else 0.0


def reward_parts(completion, truth, format_weight=0.0):
    """The reward of one completion, as answer-guards.ts rewardParts: the keywords, each failed guard's cost, the format term."""
    answer = answer_text(completion)
    keywords = keywords_score(answer, truth.get("keywords") or [], truth.get("keyword_alternatives"))
    failed = _unique(guard for guard, _detail in guard_failures(answer, truth))
    factor = 1.0
    for guard in failed:
        factor *= 1 - GUARDS["reward"]["penalty"].get(guard, 1.0)
    form = format_score(completion)
    return {
        "score": (1 - format_weight) * keywords * factor + format_weight * form,
        "keywords": keywords,
        "guards": 0.0 if failed else 1.0,
        "format": form,
        "failed": failed,
    }


def _verl_parts(parts):
    # verl's reward managers take "score" as the reward and log every other key; one 0/1 column per guard.
    result = {"score": parts["score"], "keywords": parts["keywords"], "guards": parts["guards"], "format": parts["format"]}
    for guard in GUARD_NAMES:
        result["guard_" + guard] = 0.0 if guard in parts["failed"] else 1.0
    return result


def compute_score(data_source, solution_str, ground_truth, extra_info=None, format_weight=0.0, **kwargs):
    """verl: the parts of one decoded response's reward; verl uses "score" and logs the rest."""
    return _verl_parts(reward_parts(solution_str, _ground_truth(ground_truth), format_weight))


def _completion_text(completion):
    # TRL hands conversational completions as [{"role": "assistant", "content": ...}], plain ones as str.
    if isinstance(completion, str):
        return completion
    content = completion[-1].get("content", "") if completion else ""
    return content if isinstance(content, str) else ""


def keyword_reward(completions, keywords=None, keyword_alternatives=None, ground_truth=None, format_weight=0.0, **kwargs):
    """TRL GRPOTrainer: one score per completion, from the ground_truth column (or keywords and keyword_alternatives)."""
    count = len(completions)
    truths = ground_truth or [None] * count
    keyword_lists = keywords or [[]] * count
    alternatives = keyword_alternatives or [None] * count
    scores = []
    for completion, truth, row_keywords, row_alternatives in zip(completions, truths, keyword_lists, alternatives):
        row_truth = _ground_truth(truth) if truth is not None else {"keywords": row_keywords, "keyword_alternatives": row_alternatives}
        scores.append(reward_parts(_completion_text(completion), row_truth, format_weight)["score"])
    return scores


def easyr1_compute_score(reward_inputs, format_weight=0.0):
    """EasyR1 (REWARD_TYPE batch): {"overall", "accuracy", "format", "guards", ...} per {"response", "ground_truth"}."""
    scores = []
    for reward_input in reward_inputs:
        parts = _verl_parts(reward_parts(reward_input["response"], _ground_truth(reward_input["ground_truth"]), format_weight))
        parts["overall"] = parts.pop("score")
        parts["accuracy"] = parts.pop("keywords")
        scores.append(parts)
    return scores


def _check(line):
    request = json.loads(line)
    if "response" in request:
        truth = _ground_truth(request["ground_truth"])
        parts = reward_parts(request["response"], truth, request.get("format_weight", 0.0))
        answer = answer_text(request["response"])
        return {**parts, "answer": answer, "failures": [list(failure) for failure in guard_failures(answer, truth)]}
    result = {"canonical": canonical_text(request["text"]), "tokens": match_tokens(request["text"])}
    if "keyword" in request:
        result["contains"] = contains_keyword(request["text"], request["keyword"], request.get("alternatives") or [])
    return result


if __name__ == "__main__":
    for input_line in sys.stdin:
        if input_line.strip():
            sys.stdout.write(json.dumps(_check(input_line), ensure_ascii=False) + "\n")
