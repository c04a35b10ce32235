from django.urls import path

from routing.api import views

urlpatterns = [
    path("auth/token/", views.obtain_token, name="api-token"),
    path("tickets/", views.TicketListCreate.as_view(), name="api-tickets"),
    path("tickets/export/", views.TicketExport.as_view(), name="api-tickets-export"),
    path("tickets/<str:number>/", views.TicketDetail.as_view(), name="api-ticket"),
    path("tickets/<str:number>/events/", views.TicketEvents.as_view(), name="api-ticket-events"),
    path("tickets/<str:number>/reveal/", views.TicketReveal.as_view(), name="api-ticket-reveal"),
    path("tickets/<str:number>/kpi-exclusions/", views.TicketKpiExclusion.as_view(), name="api-ticket-kpi-exclusions"),
    path("tickets/<str:number>/appeals/", views.TicketAppeals.as_view(), name="api-ticket-appeals"),
    path("tickets/<str:number>/transfer_reference/", views.TicketTransferReference.as_view(), name="api-ticket-transfer-reference"),
    *(
        path(f"tickets/<str:number>/{name}/", view.as_view(), name=f"api-ticket-{name.replace('_', '-')}")
        for name, view in views.transition_views.items()
    ),
    path("tickets/<str:number>/<str:transition>/", views.TicketTransition.as_view(), name="api-ticket-transition"),
    path("queues/mine/", views.MyQueue.as_view(), name="api-queue-mine"),
    path("queues/mine/export/", views.QueueExport.as_view(), name="api-queue-export"),
    path("departments/", views.Departments.as_view(), name="api-departments"),
    path("categories/", views.Categories.as_view(), name="api-categories"),
    path("areas/", views.Areas.as_view(), name="api-areas"),
    path("catalogue/", views.Catalogue.as_view(), name="api-catalogue"),
    path("emergency-lines/", views.EmergencyLines.as_view(), name="api-emergency-lines"),
    path("classify/", views.Classify.as_view(), name="api-classify"),
    path("repeats/", views.Repeats.as_view(), name="api-repeats"),
    path("hotspots/issues/", views.HotIssues.as_view(), name="api-hot-issues"),
    path("hotspots/issues/export/", views.HotIssueExport.as_view(), name="api-hot-issues-export"),
    path("kpis/", views.Kpis.as_view(), name="api-kpis"),
    path("kpis/export/", views.KpiExport.as_view(), name="api-kpis-export"),
    path("kpis/replies/", views.ReplyQuality.as_view(), name="api-reply-quality"),
    path("kpis/replies/export/", views.ReplyQualityExport.as_view(), name="api-reply-quality-export"),
    path("kpis/disputes/", views.DisputeKpis.as_view(), name="api-dispute-kpis"),
    path("kpis/disputes/export/", views.DisputeExport.as_view(), name="api-dispute-export"),
    path("kpis/ratings/", views.RatingKpis.as_view(), name="api-rating-kpis"),
    path("kpis/ratings/export/", views.RatingExport.as_view(), name="api-rating-export"),
    path("appeals/", views.Appeals.as_view(), name="api-appeals"),
    path("appeals/export/", views.AppealExport.as_view(), name="api-appeals-export"),
    path("appeals/<int:appeal_id>/decide/", views.AppealDecision.as_view(), name="api-appeal-decide"),
    path("replies/assess/", views.ReplyAssess.as_view(), name="api-reply-assess"),
]
