from pifu.texts import items, plain


def test_numbered_items_split_and_cleaned():
    html = "<p>1. 领导工作；组织，跟党走；2. 突出&ldquo;五一&rdquo;职能；<br/>3、调查2025. 研究。4．完成</p>"
    assert items(html) == ["领导工作；组织，跟党走", "突出“五一”职能", "调查2025. 研究。", "完成"]


def test_only_the_next_number_starts_an_item():
    assert items("1. 开展3. 次检查；2. 完成") == ["开展3. 次检查", "完成"]


def test_unnumbered_and_empty():
    assert items("<p>通过履行职能；持续强化。</p>") == ["通过履行职能；持续强化。"]
    assert items("") == [] and items("<p>&nbsp;</p>") == []
    assert plain("<p>a&amp;b\u3000 c</p>\n<p>d</p>") == "a&b c d"
