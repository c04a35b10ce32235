from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import views, workspaces

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("console/", workspaces.console, name="console"),
    path("console/callbacks/", workspaces.console_callbacks, name="console-callbacks"),
    path("dispatch/", workspaces.dispatch, name="dispatch"),
    path("dispatch/queue/", workspaces.dispatch_queue, name="dispatch-queue"),
    path("department/", workspaces.department, name="department"),
    path("department/queue/", workspaces.department_queue, name="department-queue"),
    path("supervisor/", workspaces.supervisor, name="supervisor"),
    path("supervisor/hot-issues/", workspaces.hot_issues, name="hot-issues"),
    path("supervisor/overdue/", workspaces.supervisor_overdue, name="supervisor-overdue"),
    path("supervisor/wall/", workspaces.supervisor_wall, name="supervisor-wall"),
    path("supervisor/wall/live/", workspaces.supervisor_wall_live, name="supervisor-wall-live"),
    path("tickets/", workspaces.ticket_search, name="ticket-search"),
    path("tickets/<str:number>/", views.ticket_detail, name="ticket-detail"),
]
