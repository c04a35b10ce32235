"""Forms of the knowledge editor pages (validation of content is ``ArticleContent.clean``'s job)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from knowledge.actions import ArticleContent
from knowledge.models import Article
from routing.models import Category, Department, path_ids


def category_choices() -> list[tuple[int, str]]:
    """Every category with its full path (城乡建设 › 城市建设和市政管理 › 路灯), in tree order."""
    nodes = list(Category.objects.order_by("path").values_list("pk", "name", "path"))
    names = {pk: name for pk, name, _path in nodes}
    choices = []
    for pk, _name, path in nodes:
        ids = path_ids(path)
        choices.append((pk, " › ".join(names[i] for i in ids if i in names)))
    return choices


class CategoryField(forms.TypedChoiceField):
    def __init__(self, **kwargs):
        super().__init__(coerce=int, **kwargs)

    def clean(self, value):
        pk = super().clean(value)
        return Category.objects.filter(pk=pk).first() if pk not in (None, "") else None


class ArticleForm(forms.Form):
    title = forms.CharField(label=_("标题"), max_length=200)
    category = CategoryField(label=_("分类"))
    keywords = forms.CharField(label=_("关键词"), max_length=300, required=False, help_text=_("以空格或逗号分隔，写市民常用的说法"))
    valid_from = forms.DateField(label=_("生效日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    valid_until = forms.DateField(label=_("失效日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    body = forms.CharField(
        label=_("正文（Markdown）"),
        max_length=50000,
        widget=forms.Textarea(attrs={"rows": 18}),
        help_text=_("支持 Markdown：## 小标题、- 列表、**加粗**、表格；不支持脚本和图片。"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "—")] + category_choices()

    @classmethod
    def for_article(cls, article: Article) -> "ArticleForm":
        return cls(
            initial={
                "title": article.title, "category": article.category_id, "keywords": article.keywords,
                "valid_from": article.valid_from, "valid_until": article.valid_until, "body": article.body,
            }
        )  # fmt: skip

    def content(self) -> ArticleContent:
        data = self.cleaned_data
        return ArticleContent(
            title=data["title"], body=data["body"], category=data["category"], keywords=data.get("keywords", ""),
            valid_from=data.get("valid_from"), valid_until=data.get("valid_until"),
        )  # fmt: skip


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("退回原因"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class SearchForm(forms.Form):
    q = forms.CharField(label=_("问题或关键词"), max_length=500, required=False)
    category = forms.TypedChoiceField(label=_("分类"), coerce=int, required=False, empty_value=None)
    department = forms.TypedChoiceField(label=_("责任单位"), coerce=int, required=False, empty_value=None)
    include_expired = forms.BooleanField(label=_("包括已失效的"), required=False)
    page = forms.IntegerField(min_value=1, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("全部分类"))] + category_choices()
        self.fields["department"].choices = [("", _("全部单位"))] + list(Department.objects.filter(active=True).order_by("code").values_list("pk", "name"))
