"""Chinese text for search: the synonym list, segmentation, bigrams, and sanitized Markdown."""

from __future__ import annotations

import pytest

from knowledge import markup, vocabulary


def test_the_synonym_list_has_the_hotline_vocabulary():
    words = vocabulary.synonyms()
    assert len(words.groups) >= 25
    for a, b in [("医保", "医疗保险"), ("公积金", "住房公积金"), ("社保", "社会保险"), ("12345", "市长热线")]:
        assert b in words.expand(a) and a in words.expand(b)
    assert words.expand("公基金")[0] == "公积金"  # a typo is read as the word


def test_rules_for_elasticsearch():
    rules = vocabulary.synonyms().rules()
    assert "公积金, 住房公积金" in rules
    assert any(rule.endswith("=> 公积金") and "公基金" in rule for rule in rules)


@pytest.mark.parametrize(
    ("lines", "message"),
    [(["医保"], "at least two"), (["a, b => c, d"], "exactly one"), (["医疗 保险,医保"], "no spaces")],
)
def test_malformed_synonym_lines_are_refused(lines, message):
    with pytest.raises(ValueError, match=message):
        vocabulary.parse_synonyms(lines)


def test_vocabulary_words_stay_whole():
    assert "住房公积金" in vocabulary.index_tokens("我要提取住房公积金")
    assert "公积金" in vocabulary.index_tokens("我要提取住房公积金")  # search mode adds the sub-word
    assert vocabulary.query_words("请问一下住房公积金怎么提取啊") == ["住房公积金", "提取"]


def test_a_query_of_stop_words_only_keeps_them():
    assert vocabulary.query_words("怎么办") == ["怎么办"]


def test_bigrams():
    assert vocabulary.bigrams("路灯不亮 12345热线") == "路灯 灯不 不亮 热线 12345"
    assert vocabulary.bigrams("灯") == "灯"
    assert vocabulary.bigrams("") == ""


def test_query_terms_expand_synonyms():
    terms = vocabulary.query_terms("医宝报销")
    assert terms[0][:2] == ["医保", "医疗保险"] and ["报销"] in terms


def test_markdown_is_rendered_and_sanitized():
    html = markup.render("## 材料\n\n- 身份证\n- [表格](https://example.cn/a.pdf) [坏链接](javascript:alert(1))\n\n<script>alert(1)</script><img src=x onerror=alert(1)>")
    assert "<h2>材料</h2>" in html and "<li>身份证</li>" in html
    assert 'href="https://example.cn/a.pdf"' in html
    assert "javascript:" not in html and "<script" not in html and "onerror" not in html and "<img" not in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_plain_text_for_the_index():
    assert markup.plain_text("## 材料\n\n**身份证** 与 `<b>`") == "材料 身份证 与 <b>"
