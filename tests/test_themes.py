"""Theme assignment, automatic clustering and same-story merging (pure functions), and how
the seeds are grouped with the shipped taxonomy and the real parser and ranker."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest

from digest import pipeline
from digest.config import (
    DEFAULT_THEMES,
    ClusteringConfig,
    DedupeConfig,
    ThemeConfig,
    load_config,
)
from digest.model import KeySentence, StoryGroup, Theme
from digest.store import open_store
from digest.themes import (
    OTHER,
    articles_of,
    claim,
    claim_all,
    comparable_text,
    display_title,
    group_week,
    jaccard,
    merge_same_stories,
    merge_same_stories_exact,
    score_theme,
    shingles,
    similar_pairs,
    similar_pairs_exact,
    theme_rules,
    week_highlights,
)
from digest.weeks import IsoWeek

from .digest_support import ROOT, SEEDS, project_config, stored

STORY = ("东昌府讯 8月22日,区委书记马军权深入农贸市场、背街小巷、居民小区等地,实地督导深化全国文明城市"
         "创建工作。他强调,要提高政治站位,狠抓落实整改,以深化全国文明城市创建为契机,强化责任落实,"
         "形成工作合力,持续优化市场环境,不断提升群众的获得感和幸福感。\n督导中,马军权深入一线,"
         "直奔现场,详细了解全国文明城市创建工作开展情况,并就督导中发现的环境卫生、飞线整治、"
         "宣传标语缺失等问题现场提出整改意见。")


@pytest.fixture
def config(tmp_path):
    return project_config(tmp_path / "state")


# -- taxonomy -----------------------------------------------------------------------------

def test_config_toml_ships_the_default_taxonomy():
    assert tuple(load_config(ROOT / "config.toml").themes) == DEFAULT_THEMES


def test_a_config_without_themes_uses_the_default_taxonomy(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[[subscribers]]\nemail = "a@example.org"\nthemes = ["疫情防控"]\n',
                    encoding="utf-8")
    config = load_config(path)  # a subscriber may name a default theme
    assert theme_rules(config) == DEFAULT_THEMES
    path.write_text("themes = []\n", encoding="utf-8")
    assert theme_rules(load_config(path)) == ()  # named themes off: all automatic
    own = [ThemeConfig("体育", ["足球"])]
    assert theme_rules(dataclasses.replace(config, themes=own)) == tuple(own)


# -- named themes -------------------------------------------------------------------------

RULES = (ThemeConfig("文明城市创建", ["文明城市", "创城"], exclude=["质量强区"]),
         ThemeConfig("项目建设与经济", ["重点项目", "企业", "质量强区"]),
         ThemeConfig("安全生产", ["安全生产"]),
         ThemeConfig("疫情防控", ["疫情防控"]))


def test_a_headline_with_one_body_mention_claims_an_article():
    art = stored("王彤宇来我区督导深化全国文明城市创建工作", "王彤宇督导文明城市创建工作。")
    assert score_theme(art, RULES[0]).score == 4
    assert claim(art, RULES) == "文明城市创建"
    # A headline alone is not enough: the body must be about it too.
    assert claim(dataclasses.replace(art, paragraphs=("会议强调要抓好工作。",)), RULES) is None


def test_a_passing_mention_in_the_body_does_not_claim():
    art = stored("区政协第五次主席会议召开", "会议听取了有关情况汇报,并顺带提到创城工作。")
    assert score_theme(art, RULES[0]).score == 1
    assert claim(art, RULES) is None


def test_a_body_that_keeps_returning_to_a_subject_claims_it():
    body = "安全生产是底线。要压实安全生产责任。开展安全生产大检查。安全生产无小事。"
    art = stored("区委常委会会议召开", body, keywords=("安全生产",))
    assert claim(art, RULES) == "安全生产"


def test_headline_outweighs_body_and_exclude_vetoes():
    art = stored("坚定创则必成的信心 扛起创建有我的担当", "全区创建山东省质量强区。" * 3 + "创城。",
                 subtitle="全区创建山东省质量强区动员部署大会召开")
    assert score_theme(art, RULES[0]).excluded
    assert claim(art, RULES) == "项目建设与经济"


def test_exclude_words_veto_through_keywords_too():
    art = stored("督导文明城市创建", "创城。", keywords=("质量强区",))
    assert claim(art, RULES) != "文明城市创建"


def test_ties_go_to_the_theme_listed_first():
    art = stored("确保疫情防控和安全生产工作两手抓", "会议部署疫情防控和安全生产工作。")
    assert score_theme(art, RULES[2]).score == score_theme(art, RULES[3]).score
    assert claim(art, RULES) == "安全生产"
    assert claim(art, (RULES[3], RULES[2])) == "疫情防控"


def _claim_by_definition(article, rules):
    """claim() as the rules read (scores recomputed per rule, keywords compared one by one):
    the reference for the prepared, set-based scoring."""
    from digest.themes import BODY_CAP_PER_WORD, BODY_WEIGHT, CLAIM_SCORE, HEADLINE_WEIGHT, \
        KEYWORD_WEIGHT, headline

    best = None
    for rule in rules:
        head, body, kws = headline(article), "".join(article.paragraphs), article.keywords
        if any(w in head or any(w in k for k in kws) for w in rule.exclude):
            continue
        score = 0
        for word in dict.fromkeys(rule.keywords):
            score += HEADLINE_WEIGHT * (word in head)
            score += KEYWORD_WEIGHT * any(word in k or k in word for k in kws if len(k) >= 2)
            score += BODY_WEIGHT * min(body.count(word), BODY_CAP_PER_WORD)
        if score >= CLAIM_SCORE and (best is None or score > best[1]):
            best = (rule.name, score)
    return best[0] if best else None


def test_claims_equal_the_rules_read_one_by_one():
    rng = random.Random(7)
    words = [w for rule in DEFAULT_THEMES for w in (*rule.keywords, *rule.exclude)]
    pieces = words + ["会议", "工作", "我区", "群众", "的", "文", "城市", "创", "安全"]
    arts = []
    for i in range(400):
        def text(n):
            return "".join(rng.choice(pieces) for _ in range(n))
        keywords = tuple(rng.choice(pieces)[: rng.randrange(1, 5)] for _ in range(rng.randrange(9)))
        arts.append(stored(text(rng.randrange(4)), text(rng.randrange(30)), keywords=keywords,
                           subtitle=text(2) if i % 5 == 0 else None))
    # the week's letters are found over all bodies at once: empty bodies, a lone surrogate
    # and a letter outside the BMP must not shift them between articles
    arts += [stored("", ""), stored("安全", "\ud800安全生产安全生产"), stored("", "𠀀安全生产隐患"),
             stored("", ""), stored("生产", "安全生产安全生产𠀀")]
    rules = DEFAULT_THEMES + (ThemeConfig("叠词", ["文明城市", "文明城市", "城"], exclude=["创"]),)
    expected = [_claim_by_definition(a, rules) for a in arts]
    assert claim_all(arts, rules) == expected
    assert [claim(a, rules) for a in arts] == expected
    assert len({e for e in expected}) > 5  # most themes claim something


# -- same-story merging -------------------------------------------------------------------

def test_the_same_story_in_two_papers_is_one_story_listing_both():
    district = stored("狠抓落实整改 让广大人民群众共享创建成果", STORY, source="东昌时讯.txt",
                      paper="东昌时讯")
    # The city paper: its own dateline, its own title, full-width punctuation, one sentence cut.
    city_body = STORY.replace("东昌府讯 8月22日,", "本报东昌府讯 8月22日，").replace(",", "，")
    city_body = city_body.replace("宣传标语缺失等问题现场提出整改意见。", "")
    city = stored("马军权督导创城工作", city_body, source="聊城日报.txt", paper="聊城日报")
    other = stored("狠抓落实整改 让广大人民群众共享创建成果", "另一篇同题不同文的报道,讲的是安全生产检查。"
                   "会议要求各部门压实责任,确保安全。")
    groups = merge_same_stories([city, other, district], DedupeConfig())
    assert len(groups) == 2
    merged = next(g for g in groups if g.also_in)
    assert merged.lead is district  # the fuller printing leads
    assert merged.also_in == (city,)
    assert jaccard(shingles(comparable_text(district), 5), shingles(comparable_text(city), 5)) > 0.5


def test_same_title_different_text_is_not_merged():
    a = stored("王彤宇来我区督导深化全国文明城市创建工作", STORY)
    b = stored("王彤宇来我区督导深化全国文明城市创建工作", "王彤宇一行先后到友谊街、科技市场、公安小区北区、"
               "新村路和颐馨园小区,实地察看环境卫生、车辆停放、老旧小区改造、道路改造等情况。")
    assert all(not g.also_in for g in merge_same_stories([a, b], DedupeConfig()))


def test_merging_is_transitive_and_threshold_is_configurable():
    base = STORY
    a = stored("甲", base)
    b = stored("乙", base[:-30])
    c = stored("丙", base[:-60])
    assert len(merge_same_stories([a, b, c], DedupeConfig())) == 1
    assert len(merge_same_stories([a, b, c], DedupeConfig(similarity=0.999))) == 3


def test_shingles_of_short_and_empty_texts():
    assert shingles("", 5) == frozenset()
    assert shingles("短文", 5) == frozenset({"短文"})
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_prefix_filter_finds_exactly_the_pairs_of_all_pairs_comparison():
    rng = random.Random(11)
    alphabet = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
    base = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(20, 400)))
            for _ in range(60)]
    texts = list(base)
    for text in base[:40]:  # printings: cut, extended, edited in the middle
        cut = rng.randrange(len(text) // 3 + 1)
        texts.append(text[cut:] + text[: rng.randrange(20)])
        middle = len(text) // 2
        texts.append(text[:middle] + "另据报道" + text[middle + 5:])
    texts += ["", "短", "短", "短文", "五个字文本", "五个字文本"]  # empty and sub-shingle texts
    rng.shuffle(texts)
    for threshold in (0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 1.0):
        dedupe = DedupeConfig(similarity=threshold)
        exact = similar_pairs_exact(texts, dedupe)
        assert similar_pairs(texts, dedupe) == exact, threshold
        assert exact  # the test would prove nothing without pairs to find
    for size in (3, 8):
        dedupe = DedupeConfig(similarity=0.5, shingle=size)
        assert similar_pairs(texts, dedupe) == similar_pairs_exact(texts, dedupe)


def test_prefix_filter_equals_all_pairs_on_a_week_of_stitched_texts():
    """A bigger input shaped like the grouping benchmark's week: texts stitched from thirds
    of others (so most shingles are shared by several texts), reprints with a paragraph
    dropped, repeated phrases inside a text, texts of very different lengths."""
    rng = random.Random(23)
    alphabet = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也"
    base = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(60, 900)))
            for _ in range(80)]
    texts = list(base)
    for _ in range(140):
        parts = rng.sample(base, 3)
        texts.append("".join(p[i * len(p) // 3:(i + 1) * len(p) // 3]
                             for i, p in enumerate(parts)))
    for text in rng.sample(texts, 60):
        cut = rng.randrange(len(text) // 4 + 1)
        texts.append("本报讯" + text[cut:])
    texts += [base[0] * 3, base[1][:40] * 5, base[2][:5] * 9]  # repeated phrases
    rng.shuffle(texts)
    for threshold in (0.3, 0.6):
        dedupe = DedupeConfig(similarity=threshold)
        exact = similar_pairs_exact(texts, dedupe)
        assert similar_pairs(texts, dedupe) == exact, threshold
        assert len(exact) > 20


def test_the_early_stopping_intersection_is_exact_whenever_it_reaches_its_need():
    """The join's verification stops a pair once its keys left cannot reach `need`: the
    count it gives is the full intersection whenever that reaches `need`, and below `need`
    whenever the full one is."""
    import numpy as np

    from digest.themes.simjoin import _common_reaching

    rng = random.Random(3)
    for _ in range(300):
        pool = rng.sample(range(1, 400), rng.randrange(2, 200))
        a = np.array(sorted(rng.sample(pool, rng.randrange(1, len(pool) + 1))), np.uint64)
        b = np.array(sorted(rng.sample(pool, rng.randrange(1, len(pool) + 1))), np.uint64)
        keys = np.concatenate((a, b))
        full = len(set(a.tolist()) & set(b.tolist()))
        for need in (0.0, full - 0.5, full - 1e-6, float(full), full + 0.5, rng.random() * 200):
            got = _common_reaching(keys, 0, a.size, a.size, keys.size, need)
            if full >= need:
                assert got == full, (full, need)
            else:
                assert got <= full and got < need, (full, need, got)


def test_exact_jaccard_on_packed_shingles_equals_jaccard_of_the_strings():
    import numpy as np

    from digest.themes.simjoin import exact_jaccard

    rng = random.Random(5)
    small = "甲乙丙丁戊己庚辛"
    wide = [chr(0x4E00 + k) for k in range(6000)]  # 13 bits a character: 5 do not fit in 64
    fell_back = 0
    for alphabet, size, shortest in ((small, 5, 5), (small, 8, 8), (wide, 5, 7000),
                                     ("ab", 64, 64), (wide[:4096], 5, 7000)):
        for _ in range(10):
            a = "".join(rng.choice(alphabet) for _ in range(rng.randrange(shortest, 9000)))
            b = a[rng.randrange(len(a) // 2):] + "".join(rng.choice(alphabet)
                                                         for _ in range(rng.randrange(size)))
            codes = np.frombuffer((a + b).encode("utf-32-le"), dtype=np.uint32)
            value = exact_jaccard(codes, 0, len(a), len(a), len(a) + len(b), size)
            if value < 0:  # the caller then compares the strings
                assert len(set(a + b)) > 2 ** (64 // size)
                fell_back += 1
                continue
            assert value == jaccard(shingles(a, size), shingles(b, size))
    assert fell_back


def test_comparable_codes_are_the_comparable_texts():
    from digest.themes.stories import _comparable_codes

    rng = random.Random(8)
    pieces = ["东昌府讯 8月22日,", "□本报讯", "ＡＢＣ１２３", "abcXYZ09", "，。、“”", "\u3400\u4dbf\u4dc0",
              "\u9fff\ua000", "😀𠀀", "\t\n ", "é"]
    arts = [stored(f"第{i}篇", "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12))))
            for i in range(200)]
    codes, lengths = _comparable_codes(arts)
    texts = [comparable_text(a) for a in arts]
    assert lengths.tolist() == [len(t) for t in texts]
    assert codes.tobytes().decode("utf-32-le") == "".join(texts)


def test_same_story_groups_equal_the_exact_methods():
    rng = random.Random(3)
    arts = []
    for i in range(30):
        body = STORY[rng.randrange(40):] if i % 3 == 0 else "".join(
            rng.sample("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥", 20)) * 3
        arts.append(stored(f"第{i}篇", body, position=i))
    for dedupe in (DedupeConfig(), DedupeConfig(similarity=0.8), DedupeConfig(similarity=0.3)):
        assert merge_same_stories(arts, dedupe) == merge_same_stories_exact(arts, dedupe)
    assert any(g.also_in for g in merge_same_stories(arts, DedupeConfig()))


# -- automatic clustering -----------------------------------------------------------------

def _unclaimable(title, keywords):
    return stored(title, f"{title}。{'、'.join(keywords)}。", keywords=keywords)


TOPICS = {
    "足球": ["足球", "比赛", "球队", "联赛", "冠军", "教练", "球员", "进球", "球迷", "赛季"],
    "金融": ["银行", "贷款", "利率", "存款", "金融", "信贷", "储户", "理财", "汇率", "债券"],
    "天气": ["降雨", "气温", "暴雨", "天气", "气象台", "台风", "预警", "大风", "冷空气", "雷阵雨"],
    "教育": ["学校", "学生", "教师", "课程", "考试", "校园", "高考", "家长", "课堂", "作业"],
    "医疗": ["医院", "医生", "患者", "手术", "疾病", "治疗", "门诊", "护士", "药品", "病房"],
}
FILLER = ["今天", "记者", "了解到", "表示", "目前", "已经", "同时", "相关", "情况", "进一步"]


def made_up_week(per_topic=9, seed=5):
    """A labelled week: articles drawn from five vocabularies with shared filler words."""
    rng = random.Random(seed)
    arts, labels = [], {}
    for topic, words in TOPICS.items():
        for k in range(per_topic):
            sentences = ["，".join(rng.sample(words, 4) + rng.sample(FILLER, 2)) + "。"
                         for _ in range(6)]
            art = stored(f"{rng.choice(words)}{rng.choice(words)}{k}", "\n".join(sentences),
                         keywords=tuple(rng.sample(words, 3)), position=k)
            arts.append(art)
            labels[art.id] = topic
    return arts, labels


def test_a_made_up_labelled_week_is_grouped_by_topic(config):
    config = dataclasses.replace(config, themes=[])
    arts, labels = made_up_week()
    themes = group_week(arts, config)
    groups = {t.name: {labels[a.id] for a in articles_of([t])} for t in themes}
    assert len(themes) == len(TOPICS) and OTHER not in groups
    assert all(len(topics) == 1 for topics in groups.values()), groups  # every group pure
    for theme in themes:  # the label is the group's own vocabulary
        (topic,) = groups[theme.name]
        assert theme.automatic and set(theme.label.split("、")) <= set(TOPICS[topic])
    assert group_week(list(reversed(arts)), config) == themes  # input order doesn't matter


def test_named_themes_keep_first_claim_and_the_rest_is_clustered(config):
    config = dataclasses.replace(config, themes=[ThemeConfig("体育", TOPICS["足球"])])
    arts, labels = made_up_week()
    themes = group_week(arts, config)
    assert themes[0].name == "体育" and not themes[0].automatic
    assert {labels[a.id] for a in articles_of(themes[:1])} == {"足球"}
    assert all(labels[a.id] != "足球" for a in articles_of(themes[1:]))
    assert all(t.automatic for t in themes[1:])


def test_stories_that_share_no_words_go_to_other(config):
    config = dataclasses.replace(config, themes=[])
    arts, _ = made_up_week(per_topic=4)
    lone = [stored("约稿启事", "欢迎来稿，请发邮箱。"), stored("更正", "昨日本版一处笔误。")]
    themes = group_week(arts + lone, config)
    assert themes[-1].name == OTHER
    assert {s.lead.id for s in themes[-1].stories} == {a.id for a in lone}


def test_cluster_settings_are_configurable(config):
    arts, _ = made_up_week(per_topic=4)
    config = dataclasses.replace(config, themes=[])
    strict = dataclasses.replace(config, clustering=ClusteringConfig(similarity=0.999))
    assert [t.name for t in group_week(arts, strict)] == [OTHER]
    big_only = dataclasses.replace(config, clustering=ClusteringConfig(min_size=50))
    assert [t.name for t in group_week(arts, big_only)] == [OTHER]
    few = dataclasses.replace(config, clustering=ClusteringConfig(max_groups=2))
    assert len([t for t in group_week(arts, few) if t.name != OTHER]) <= 2


def _tfidf_by_scikit_learn(stories, config):
    """The reference: the stories' words (as the module docstring says) through
    TfidfVectorizer, as the grouping computed them before it counted on its own."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from digest.text import load_stopwords, make_tokenizer
    from digest.themes.named import headline
    from digest.themes.words import SPACE as _SPACE
    from digest.themes.words import TOKEN_CHARS
    from digest.themes.words import WORD as _WORD

    tokenizer = make_tokenizer(config.text, config.paths.state / "cache")
    stop = load_stopwords(config.text.stopwords)
    docs = [[w for w in tokenizer.cut(headline(s.lead) + "\n"
                                      + "\n".join(s.lead.paragraphs)[:TOKEN_CHARS])
             if w not in stop and not _SPACE.search(w) and _WORD.fullmatch(w)]
            for s in stories]
    vectorizer = TfidfVectorizer(analyzer=lambda doc: doc, sublinear_tf=True, min_df=2,
                                 max_df=0.5 if len(docs) >= 10 else 1.0)
    try:
        vectorizer.fit(docs)
    except ValueError:  # no word shared by two stories
        return None
    # transform counts in column order (fit_transform in first-seen order, which changes the
    # last bits of the row norms)
    return vectorizer.transform(docs).tocsr(), list(vectorizer.get_feature_names_out())


@pytest.mark.parametrize("size", [1, 2, 5, 9, 10, 45])
def test_week_tfidf_equals_scikit_learns_vectorizer_bit_for_bit(config, size):
    from digest.themes.cluster import tfidf, word_counts

    arts, _ = made_up_week()
    lone = [stored("约稿启事", "欢迎来稿，请发邮箱。"), stored("更正", "昨日本版一处笔误。 a b")]
    stories = [StoryGroup(lead=a, also_in=()) for a in (lone + arts)[:size]]
    ours, reference = tfidf(*word_counts(stories, config)), _tfidf_by_scikit_learn(stories, config)
    if reference is None:
        assert ours is None
        return
    (matrix, vocab), (expected, expected_vocab) = ours, reference
    assert vocab == expected_vocab and matrix.shape == expected.shape
    assert (matrix.indptr == expected.indptr).all() and (matrix.indices == expected.indices).all()
    assert (matrix.data == expected.data).all()


def test_every_article_lands_exactly_once(config):
    rng = random.Random(7)
    words = ["阅读", "图书馆", "道路", "抢修", "文明城市", "企业", "重点项目", "疫情防控", "天气"]
    arts = []
    for i in range(60):
        kws = tuple(rng.sample(words, 3))
        body = STORY if i % 7 == 0 else "".join(rng.sample(words, 4)) * (1 + i % 3) + f"第{i}号。"
        arts.append(stored(f"第{i}篇 {kws[0]}", body, keywords=kws))
    themes = group_week(arts, config)
    placed = [a.id for a in articles_of(themes)]
    assert sorted(placed) == sorted(a.id for a in arts)
    assert len({t.name for t in themes}) == len(themes)
    assert group_week(list(reversed(arts)), config) == themes  # order of input doesn't matter


def test_display_title_for_untitled_photo():
    assert display_title(stored(None, "高唐充分发挥红色展馆、教育长廊等载体作用,激励青年党员学好党史必修课。")) \
        == "高唐充分发挥红色展馆、教育长廊等载体作用,激励青年党员学好党…"
    assert display_title(stored(None, "")) == "(无标题)"


# -- the seeds, as an editor would sort them ----------------------------------------------

# Theme of every seed article (by its position in its file), as an editor sorted them.
SEED_THEMES = {
    ("000", 0): "科技与人才",       # 青年发展友好型城市
    ("000", 1): "项目建设与经济",    # 重点项目建设
    ("000", 2): "科技与人才",       # 科技活动周
    ("000", 3): "文明城市创建",
    ("000", 4): "乡村振兴",         # 鲁渝协作消费帮扶
    ("000", 5): "乡村振兴",         # 土地入股 农民分红
    ("000", 6): "民生服务",         # 社区“微治理”
    ("000", 7): "科技与人才",       # 校地合作
    ("001", 0): "科技与人才",       # 科技专家顾问团
    ("001", 1): "文明城市创建",
    ("001", 2): "文明城市创建",
    ("001", 3): "党建与理论学习",    # 区委常委会: 学习讲话、从严治党
    ("001", 4): "文明城市创建",
    ("001", 5): "文明城市创建",     # 创城干部下沉点位
    ("001", 6): "党建与理论学习",
    ("001", 7): "乡村振兴",         # 耕地保护
    ("001", 8): "人大政协与政务",    # 电视政务公开
    ("002", 0): "项目建设与经济",
    ("002", 1): "乡村振兴",         # 脱贫户帮扶
    ("002", 2): "乡村振兴",
    ("002", 3): "乡村振兴",
    ("002", 4): "乡村振兴",
    ("002", 5): "乡村振兴",
    ("002", 6): "乡村振兴",
    ("002", 7): "科技与人才",       # 人才工作会议
    ("002", 8): "生态环境",
    ("002", 9): "党建与理论学习",    # 图片: 红色教育长廊
    ("002", 10): "民生服务",        # 共享营业厅
    ("002", 11): "项目建设与经济",   # 四个新高地 (署名文章)
    ("002", 12): "项目建设与经济",   # 中小微企业纾困
    ("002", 13): OTHER,             # 约稿启事
    ("003", 0): "安全生产",
    ("003", 1): "疫情防控",         # 区委常委会: 疫情防控
    ("003", 2): "党建与理论学习",
    ("003", 3): "项目建设与经济",   # 金融活水
    ("003", 4): "疫情防控",         # 志愿服务封控小区
    ("003", 5): "疫情防控",
    ("003", 6): "科技与人才",
    ("003", 7): "项目建设与经济",   # 新能源汽车零部件产业园
    ("004", 0): "文明城市创建",
    ("004", 1): "文明城市创建",
    ("004", 2): "项目建设与经济",   # 质量强区 (excluded from 文明城市创建)
    ("004", 3): "生态环境",
    ("004", 4): "人大政协与政务",
    ("004", 5): "文明城市创建",
    ("004", 6): "文明城市创建",     # 人大主任会议, all about 创城
    ("004", 7): "党建与理论学习",   # 少先队代表大会
    ("004", 8): "项目建设与经济",   # 企业数字化转型
}


@pytest.fixture(scope="module")
def seeded_config(tmp_path_factory):
    config = project_config(tmp_path_factory.mktemp("seeded"))
    pipeline.ingest_paths(config, [SEEDS])
    return config


def test_seed_articles_are_sorted_as_an_editor_would(seeded_config):
    got = {}
    with open_store(seeded_config) as st:
        for week in st.weeks():
            for theme in group_week(st.articles_in_week(week), seeded_config):
                for a in articles_of([theme]):
                    got[(a.source[:3], a.position)] = theme.name
    assert got == SEED_THEMES


def test_seeds_print_no_story_twice(seeded_config):
    with open_store(seeded_config) as st:
        for week in st.weeks():
            themes = group_week(st.articles_in_week(week), seeded_config)
            assert all(not s.also_in for t in themes for s in t.stories), week


def test_a_reprinted_seed_story_is_merged(seeded_config, tmp_path):
    """The same report in another paper (new dateline and title, rest as printed) merges."""
    with open_store(seeded_config) as st:
        week = IsoWeek(2022, 34)
        original = next(a for a in st.articles_in_week(week) if a.title.startswith("聊城市第二十一网格"))
    reprint = dataclasses.replace(
        original, id=10_000, issue_id=10_000, paper="聊城日报", source="reprint.txt",
        title="市创城工作组督导东昌府区",
        paragraphs=(original.paragraphs[0].replace("东昌府讯", "本报讯"),
                    *original.paragraphs[1:]))
    with open_store(seeded_config) as st:
        week_articles = st.articles_in_week(week)
    themes = group_week([*week_articles, reprint], seeded_config)
    (story,) = [s for t in themes for s in t.stories if s.also_in]
    assert {story.lead.id, *(a.id for a in story.also_in)} == {original.id, 10_000}
    assert len(articles_of(themes)) == len(week_articles) + 1


def test_week_iso_rules():
    assert IsoWeek.parse("2022-W34") == IsoWeek(2022, 34) == IsoWeek.parse("2022w34")
    assert (IsoWeek(2022, 34).monday, IsoWeek(2022, 34).sunday) == (dt.date(2022, 8, 22),
                                                                    dt.date(2022, 8, 28))
    assert str(IsoWeek.of(dt.date(2021, 1, 3))) == "2020-W53"  # ISO year differs from calendar
    assert IsoWeek(2021, 1).previous() == IsoWeek(2020, 53)
    with pytest.raises(ValueError):
        IsoWeek.parse("2021-W53")
    with pytest.raises(ValueError):
        IsoWeek.parse("last week")


def test_a_week_without_shared_words_is_all_other(config):
    config = dataclasses.replace(config, themes=[ThemeConfig("体育", ["足球"])])
    arts = [_unclaimable("甲", ()), _unclaimable("乙", ()), _unclaimable("丙", ("阅读",))]
    themes = group_week(arts, config)
    assert [t.name for t in themes] == [OTHER]
    assert len(articles_of(themes)) == 3


# -- 本周要点 ------------------------------------------------------------------------------

def _story(title, position=0, printings=1, keywords=("测试",), chars=600):
    def one(i):
        return stored(title, "字" * chars, keywords=keywords, position=position,
                      sentences=(KeySentence(0, f"{title}的要点。", 0.9),
                                 KeySentence(1, f"{title}的次要。", 0.1)))
    lead = one(0)
    return StoryGroup(lead=lead, also_in=tuple(one(i) for i in range(1, printings)))


def test_highlights_span_themes_and_prefer_front_pages_and_reprints():
    a = Theme("甲", "甲", False, (_story("甲头版", 0), _story("甲二", 6), _story("甲三", 7)))
    b = Theme("乙", "乙", False, (_story("乙多次", 5, printings=4), _story("乙二", 8)))
    c = Theme("丙", "丙", True, (_story("丙一", 3), _story("丙二", 9)))
    other = Theme(OTHER, OTHER, True, (_story("约稿", 0),))
    picked = week_highlights([a, b, c, other], OTHER)
    titles = [h.story.lead.title for h in picked]
    assert len(picked) == 3  # a small week: three
    assert {h.theme for h in picked} == {"甲", "乙", "丙"}  # one per theme before any second
    assert "约稿" not in titles and titles[0] == "甲头版"
    assert "乙多次" in titles
    assert all(h.sentence.text.endswith("的要点。") for h in picked)  # its best sentence
    many = Theme("丁", "丁", False, tuple(_story(f"丁{i}", i + 1) for i in range(20)))
    assert len(week_highlights([a, many], OTHER)) == 5


def test_centrality_is_the_sum_of_keyword_cosines():
    import math
    from collections import Counter

    from digest.themes.highlights import WEIGHTS, story_weights

    rng = random.Random(2)
    words = ["疫苗", "接种", "医院", "学校", "考试", "道路", "项目", "企业", "农业", "文明"]
    stories = [_story(f"稿{i}", keywords=tuple(rng.sample(words, rng.randrange(5))))
               for i in range(60)]
    sets = [set(s.lead.keywords) for s in stories]
    df = Counter(w for ws in sets for w in ws)
    idf = {w: math.log(61 / (1 + c)) + 1 for w, c in df.items()}

    def cosine(a, b):
        dot = sum(idf[w] ** 2 for w in a & b)
        norms = math.sqrt(sum(idf[w] ** 2 for w in a)) * math.sqrt(sum(idf[w] ** 2 for w in b))
        return dot / norms if norms else 0.0

    degree = [sum(cosine(a, b) for j, b in enumerate(sets) if j != i)
              for i, a in enumerate(sets)]
    base = story_weights([_story("稿", keywords=()) for _ in range(60)])  # no centrality
    got = story_weights(stories)
    for g, b, d in zip(got, base, degree):
        assert g - b == pytest.approx(WEIGHTS["centrality"] * d / max(degree), abs=1e-12)


def test_similarity_zero_still_names_every_group(config):
    config = dataclasses.replace(config, themes=[ThemeConfig("体育", ["足球"])],
                                 clustering=ClusteringConfig(similarity=0.0))
    arts = [_unclaimable("甲", ()), _unclaimable("乙", ()), _unclaimable("丙", ("阅读",))]
    themes = group_week(arts, config)
    assert all(t.name for t in themes)
    assert len(articles_of(themes)) == 3


def _wide_matrix():
    """40 stories, 900 words of which they use 300 (as a week's vocabulary and the stories
    named themes left)."""
    import numpy as np
    from scipy import sparse

    rng = np.random.default_rng(3)
    dense = rng.random((40, 300)) * (rng.random((40, 300)) < 0.05)
    wide = np.zeros((40, 900))
    wide[:, rng.choice(900, 300, replace=False)] = dense
    return sparse.csr_matrix(wide)


def test_lsa_is_the_exact_svd_in_a_week_of_ordinary_size():
    """Up to EXACT_SVD_MOST stories the vectors are U_k Σ_k of the exact SVD, unit length,
    each column's sign as scikit-learn's svd_flip sets it."""
    import numpy as np
    from sklearn.utils.extmath import svd_flip

    from digest.themes.cluster import EXACT_SVD_MOST, _lsa

    matrix = _wide_matrix()
    assert matrix.shape[0] <= EXACT_SVD_MOST
    u, s, vt = np.linalg.svd(matrix.toarray(), full_matrices=False)
    u, vt = svd_flip(u, vt, u_based_decision=True)
    reference = u[:, :10] * s[:10]
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    assert np.allclose(_lsa(matrix, 10), reference, atol=1e-9)


def test_large_week_lsa_does_not_depend_on_words_the_stories_do_not_use(monkeypatch):
    """Above EXACT_SVD_MOST stories (the randomized SVD), _lsa drops the week's words the
    clustered stories leave unused (zero columns): the stories' vectors are those of the
    full matrix."""
    import numpy as np
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    from digest.themes import cluster

    monkeypatch.setattr(cluster, "EXACT_SVD_MOST", 10)  # these 40 stories count as many
    matrix = _wide_matrix()
    svd = TruncatedSVD(10, random_state=0).fit(matrix.T.tocsr())
    reference = normalize(svd.components_.T * svd.singular_values_)
    assert np.allclose(cluster._lsa(matrix, 10), reference, atol=1e-9)
