"""Tab Eigenaar and the owners API: who may change owners, groups, tenant isolation."""

from __future__ import annotations

import pytest

from postkamer.mailboxes import access
from tests import factories

pytestmark = pytest.mark.django_db

MULTI_USER_NL = "Je hebt het recht &#x27;multi-user&#x27; nodig"


def owners_url(box) -> str:
    return f"/api/v1/mailboxes/{box.pk}/owners/"


def test_manager_adds_and_removes_a_user_through_the_api(api, office):
    api.force_authenticate(office.manager)
    added = api.post(owners_url(office.mailbox), {"user": office.manager.pk}, format="json")
    assert added.status_code == 201
    assert {u["id"] for u in added.json()["users"]} == {office.advisor.pk, office.manager.pk}
    assert access.can_read(office.manager, office.mailbox)

    listed = api.get(owners_url(office.mailbox)).json()
    advisor = next(u for u in listed["users"] if u["id"] == office.advisor.pk)
    assert set(advisor) == {"id", "email", "name", "organisation"}
    assert listed["groups"] == []

    url = f"{owners_url(office.mailbox)}user/{office.advisor.pk}/"
    assert api.delete(url).status_code == 204
    assert not access.can_read(office.advisor, office.mailbox)


def test_adding_a_group_without_multi_user_is_refused_in_the_api_in_dutch(api, office):
    team = factories.group(office.tenant, "Schade", members=(office.advisor,))
    api.force_authenticate(office.manager)
    response = api.post(owners_url(office.mailbox), {"group": team.pk}, format="json")
    assert response.status_code == 403
    assert "Je hebt het recht 'multi-user' nodig" in response.json()["detail"]
    assert not office.mailbox.owner_groups.exists()


def test_unlinking_a_group_without_multi_user_is_refused_in_the_api(api, office):
    team = factories.group(office.tenant, "Schade")
    office.mailbox.owner_groups.add(team)
    api.force_authenticate(office.manager)
    response = api.delete(f"{owners_url(office.mailbox)}group/{team.pk}/")
    assert response.status_code == 403
    assert office.mailbox.owner_groups.filter(pk=team.pk).exists()


def test_adding_a_group_without_multi_user_is_refused_in_the_ui_in_dutch(client, office):
    team = factories.group(office.tenant, "Schade")
    client.force_login(office.manager)
    response = client.post(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/owners/add/", {"group": team.pk}
    )
    assert response.status_code == 403
    assert MULTI_USER_NL in response.content.decode()
    assert not office.mailbox.owner_groups.exists()


def test_workflow_groups_are_offered_only_to_multi_users(client, office):
    factories.group(office.tenant, "Hypotheken")
    url = f"/beheer/e-mailmanager/{office.mailbox.pk}/owners/"
    client.force_login(office.manager)
    assert "Hypotheken" not in client.get(url).content.decode()
    client.force_login(office.admin)
    assert "Hypotheken" in client.get(url).content.decode()


def test_users_of_another_tenant_and_unknown_ids_get_the_same_answer_in_the_api(api, office):
    api.force_authenticate(office.admin)
    foreign = api.post(owners_url(office.mailbox), {"user": office.outsider.pk}, format="json")
    unknown = api.post(owners_url(office.mailbox), {"user": 987654}, format="json")
    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json() == unknown.json() == {"user": ["Gebruiker niet gevonden."]}
    foreign_group = factories.group(office.other_tenant, "Geheim team")
    response = api.post(owners_url(office.mailbox), {"group": foreign_group.pk}, format="json")
    assert response.status_code == 400
    assert "Geheim team" not in response.content.decode()
    assert api.delete(f"{owners_url(office.mailbox)}user/{office.outsider.pk}/").status_code == 404
    assert not office.mailbox.owner_users.filter(pk=office.outsider.pk).exists()


def test_users_of_another_tenant_cannot_be_added_in_the_ui(client, office):
    client.force_login(office.admin)
    url = f"/beheer/e-mailmanager/{office.mailbox.pk}/owners/add/"
    foreign = client.post(url, {"user": office.outsider.pk})
    unknown = client.post(url, {"user": 987654})
    assert foreign.status_code == unknown.status_code == 404
    assert office.outsider.email not in foreign.content.decode()
    assert not office.mailbox.owner_users.filter(pk=office.outsider.pk).exists()


def test_choosing_another_tenants_organisation_shows_none_of_its_users(client, office):
    org = factories.organisation(office.other_tenant, "Vestiging B")
    factories.user(office.other_tenant, organisation=org, email="geheim@kantoorb.test")
    client.force_login(office.admin)
    page = client.get(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/owners/?org={org.pk}"
    ).content.decode()
    assert "geheim@kantoorb.test" not in page and "Vestiging B" not in page


def test_linking_a_group_gives_access_to_current_and_future_members(api, office):
    colleague = factories.user(office.tenant)
    team = factories.group(office.tenant, "Schade", members=(colleague,))
    api.force_authenticate(office.admin)
    response = api.post(owners_url(office.mailbox), {"group": team.pk}, format="json")
    assert response.status_code == 201
    assert response.json()["groups"] == [{"id": team.pk, "name": "Schade", "member_count": 1}]
    assert access.can_read(colleague, office.mailbox)

    newcomer = factories.user(office.tenant, groups=("Schade",))
    assert access.can_read(newcomer, office.mailbox)
    team.members.remove(colleague)
    assert not access.can_read(colleague, office.mailbox)


def test_unlinking_a_group_takes_access_away_except_from_direct_owners(api, office):
    member = factories.user(office.tenant)
    team = factories.group(office.tenant, "Schade", members=(member, office.advisor))
    api.force_authenticate(office.admin)
    api.post(owners_url(office.mailbox), {"group": team.pk}, format="json")
    assert api.delete(f"{owners_url(office.mailbox)}group/{team.pk}/").status_code == 204
    assert not access.can_read(member, office.mailbox)
    assert access.can_read(office.advisor, office.mailbox)  # a direct owner too


def test_the_owners_tab_lists_an_organisations_users_and_adds_one_without_javascript(
    client, office
):
    branch = factories.organisation(office.tenant, "Vestiging Utrecht")
    piet = factories.user(office.tenant, organisation=branch, email="piet@kantoora.test")
    client.force_login(office.manager)
    url = f"/beheer/e-mailmanager/{office.mailbox.pk}/owners/"
    page = client.get(url, {"q": "utrecht"}).content.decode()
    assert "Vestiging Utrecht" in page and 'aria-label="Kies organisatie"' in page
    page = client.get(url, {"org": branch.pk}).content.decode()
    assert "piet@kantoora.test" in page and 'aria-label="Toevoegen"' in page

    response = client.post(f"{url}add/", {"user": piet.pk, "org": branch.pk})
    assert response.status_code == 302 and response.url == f"{url}?org={branch.pk}"
    page = client.get(response.url).content.decode()
    assert "piet@kantoora.test heeft nu toegang." in page
    assert 'aria-label="Verwijderen"' in page
    assert access.can_read(piet, office.mailbox)

    client.post(f"{url}remove/", {"user": piet.pk})
    assert not access.can_read(piet, office.mailbox)


def test_a_fetch_request_gets_only_the_owners_panel(client, office):
    client.force_login(office.manager)
    response = client.post(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/owners/add/",
        {"user": office.manager.pk},
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="owners"') and "<html" not in html
    assert "heeft nu toegang." in html


def test_the_owners_tab_needs_the_email_manager_right(client, api, office):
    client.force_login(office.advisor)  # an owner, but no right
    assert client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/owners/").status_code == 403
    api.force_authenticate(office.advisor)
    assert api.get(owners_url(office.mailbox)).status_code == 403
    assert api.get("/api/v1/organisations/").status_code == 403


def test_organisations_api_returns_the_tree_and_searches_by_name(api, office):
    branch = factories.organisation(office.tenant, "Vestiging Utrecht")
    factories.organisation(office.tenant, "Afdeling Schade", parent=branch)
    factories.organisation(office.tenant, "Vestiging Zeist")
    factories.organisation(office.other_tenant, "Vestiging B")
    api.force_authenticate(office.manager)
    tree = api.get("/api/v1/organisations/").json()
    names = [o["name"] for o in tree]
    assert names == ["Kantoor A", "Vestiging Utrecht", "Afdeling Schade", "Vestiging Zeist"]
    assert tree[2]["parent"] == branch.pk and tree[0]["parent"] is None
    found = api.get("/api/v1/organisations/", {"search": "schade"}).json()
    assert [o["name"] for o in found] == ["Kantoor A", "Vestiging Utrecht", "Afdeling Schade"]


def test_organisation_users_only_for_the_own_tenant(api, office):
    branch = factories.organisation(office.tenant, "Vestiging Utrecht")
    piet = factories.user(office.tenant, organisation=branch)
    foreign = factories.organisation(office.other_tenant, "Vestiging B")
    api.force_authenticate(office.manager)
    users = api.get(f"/api/v1/organisations/{branch.pk}/users/").json()
    assert [u["id"] for u in users] == [piet.pk]
    assert api.get(f"/api/v1/organisations/{foreign.pk}/users/").status_code == 404
    assert api.get("/api/v1/organisations/987654/users/").status_code == 404


def test_workflow_groups_api_lists_the_tenants_groups_with_member_counts(api, office):
    factories.group(office.tenant, "Schade", members=(office.advisor, office.manager))
    factories.group(office.other_tenant, "Geheim team")
    api.force_authenticate(office.manager)
    groups = api.get("/api/v1/workflow-groups/").json()
    assert [(g["name"], g["member_count"]) for g in groups] == [("Schade", 2)]


def test_me_includes_the_users_id(api, office):
    api.force_authenticate(office.advisor)
    assert api.get("/api/v1/me/").json()["id"] == office.advisor.pk


def test_the_envelope_opens_the_default_mailbox_in_the_e_mail_module(client, office):
    office.advisor.default_mailbox = office.mailbox
    office.advisor.save()
    client.force_login(office.advisor)
    page = client.get("/account/settings/").content.decode()
    assert f'href="/email/?mailbox={office.mailbox.pk}"' in page
    assert "alert-dot" not in page


def test_the_envelope_without_a_default_explains_and_still_opens_the_module(client, office):
    client.force_login(office.advisor)
    page = client.get("/account/settings/").content.decode()
    assert 'class="envelope has-problem" href="/email/"' in page
    assert 'role="img" aria-label="Je hebt geen standaard e-mailbox' in page


def test_the_readers_of_a_mailbox_are_its_owners_and_linked_group_members_only(office):
    member = factories.user(office.tenant)
    inactive = factories.user(office.tenant)
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    group = factories.group(office.tenant, "Schade", members=(member, inactive, office.advisor))
    office.mailbox.owner_groups.add(group)

    readers = set(access.users_who_can_read(office.mailbox))

    # The advisor is both owner and member, and is counted once.
    assert readers == {office.advisor, member}
    assert list(access.users_who_can_read(office.mailbox)).count(office.advisor) == 1
    assert all(access.can_read(u, office.mailbox) for u in readers)
    assert not access.can_read(office.admin, office.mailbox)


def test_a_mailbox_of_an_edition_without_the_email_manager_has_no_readers(office):
    office.tenant.edition = "basis"
    office.tenant.save(update_fields=["edition"])
    office.mailbox.refresh_from_db()

    assert list(access.users_who_can_read(office.mailbox)) == []


# -- deleting takes what changing the owners takes ----------------------------------


def test_deleting_and_changing_owners_take_the_same_right_for_everyone(office):
    member = factories.user(office.tenant, rights=("multi_user", "repair_sync"))
    for user in (office.admin, office.manager, office.advisor, member, office.outsider):
        may_delete = access.right_problem(user, access.DELETE) is None
        assert may_delete == (access.right_problem(user, access.OWNERS) is None), user
    assert access.right_problem(office.manager, access.DELETE) is None
    assert access.right_problem(office.advisor, access.DELETE) is not None


def test_a_manager_who_is_not_an_owner_may_change_owners_and_so_delete(api, office):
    assert not access.can_read(office.manager, office.mailbox)
    api.force_authenticate(office.manager)
    url = owners_url(office.mailbox)
    assert api.post(url, {"user": office.manager.pk}, format="json").status_code == 201
    assert api.delete(f"/api/v1/mailboxes/{office.mailbox.pk}/").status_code == 204


def test_an_owner_without_the_right_may_neither_change_owners_nor_delete(api, client, office):
    box = office.mailbox
    api.force_authenticate(office.advisor)
    refused = api.post(owners_url(box), {"user": office.manager.pk}, format="json")
    assert refused.status_code == 403
    deleting = api.delete(f"/api/v1/mailboxes/{box.pk}/")
    assert deleting.status_code == 403
    assert deleting.json()["detail"] == refused.json()["detail"]
    client.force_login(office.advisor)
    assert client.post(f"/beheer/e-mailmanager/{box.pk}/delete/").status_code == 403
    assert box.__class__.objects.filter(pk=box.pk).exists()
