# %% [markdown]
# # 08 · Rollout: shipping a new model version safely
#
# A new model version is a deploy like any other, with two extra ways to fail: its answers
# can be worse, and its request contract can break the clients already in the field. This
# notebook serves `diabetes-mlp` in two real versions behind the real REST app (local
# Jupyter; in the browser the same service is called in-process) and takes a new version
# from "registered" to "serving everyone". In this notebook you will
#
# 1. send **old and new clients** to **v1 and v2** of the model, pinned and unpinned, and see
#    which combination a contract change breaks;
# 2. run the candidate in **shadow** on real traffic, where its answers reach no one;
# 3. run a **canary** under load that goes wrong, and watch a guard **roll it back** on its own;
# 4. fix the contract, then **widen** the canary to everyone, with the share measured against
#    the share configured at every step;
# 5. see why **loading a pickle runs code** (harmlessly: it writes a marker file) and how the
#    lesson's JSON + sha256 artifact format refuses the same file.

# %%
import lesson
from lesson.lab import setup
from lesson.widgets import table

lab = setup(servers=("rest",))  # the real model, diabetes-mlp, and its REST server (in local Jupyter)
patients, progression = lab.heldout()  # held-out patients and their observed progression

# %% [markdown]
# ## 1. Two versions, two contracts, old and new clients
#
# `rollout_service()` serves **v1** (the shipped float weights) under a strict contract:
# `instances` and nothing else. **v2** is the same network with int8 weights, so its answers
# differ slightly, and its contract adds an *optional* `request_id` that it echoes back. v2 was
# registered last, so a request that names no version gets it. Notebook 01 introduced both
# contracts; here they are the starting point of a rollout. In local Jupyter the cell starts
# the real REST app (FastAPI + uvicorn) for this service in a thread of this kernel.

# %%
from lesson.teaching.evolution import CONTRACT_V2_REQUIRED, ROLLOUT_MODEL, rollout_service
from lesson.teaching.rollout import RolloutClient

over_http = "rest" in lab.servers  # sockets exist: a real server; in the browser: in-process
service = rollout_service()
client = RolloutClient.connect(service, over_http=over_http)
print("requests go to:", client.where)
table([{"model": meta.name, "version": meta.version, "weights": meta.platform,
        "contract": service.contract_for(service.registry.get(meta.name, meta.version)).version,
        "optional fields": ", ".join(f.name for f in service.contract_for(
            service.registry.get(meta.name, meta.version)).fields) or "none"}
       for meta in service.registry.list()], caption="What the server holds")

# %% [markdown]
# An **old client** (last year's app) sends `instances` only; a **new client** adds its
# `request_id`. Each sends one patient's row to three routes: pinned to v1, pinned to v2, and
# the default route that names no version.

# %%
bodies = {"old client": {"instances": [patients[0]]},
          "new client": {"instances": [patients[0]], "request_id": "visit-0042"}}
routes = {"pinned to v1": "1", "pinned to v2": "2", "default route": None}
matrix = []
for who, body in bodies.items():
    for route, version in routes.items():
        reply = client.predict(body, version=version)
        meta = reply.body.get("metadata", {})
        matrix.append({"client": who, "route": route, "POST": client.route(version), "status": reply.status,
                       "answered by": f"v{meta['model_version']}" if reply.ok else "nobody",
                       "request_id echoed": meta.get("request_id", "—"),
                       "prediction": f"{reply.body['predictions'][0]:.2f}" if reply.ok else "—"})
table(matrix, caption="Measured now: every client against every route")

# %%
from IPython.display import Markdown

failed = [row for row in matrix if row["status"] != 200]
moved = {row["client"]: row["answered by"] for row in matrix if row["route"] == "default route"}
pinned_v1, default = (next(r["prediction"] for r in matrix if r["client"] == "old client" and r["route"] == route)
                      for route in ("pinned to v1", "default route"))
Markdown(
    f"{len(matrix) - len(failed)} of {len(matrix)} requests were answered. "
    + ("The failures: " + "; ".join(f"the {r['client']} {r['route']} got {r['status']}" for r in failed) + ". "
       if failed else "")
    + "A new field can only be sent once **every route a client may reach accepts it** — every "
    "server, and every version a client may be pinned to. "
    f"The default route was answered by {moved['old client']}: the old client moved to the new version without "
    f"asking, and its prediction for the same patient went from {pinned_v1} (pinned to v1) to {default}.")

# %% [markdown]
# ## 2. Shadow: the candidate answers, nobody sees it
#
# Before v2 serves anyone, mirror the traffic to it: every request is answered by v1, and a
# copy goes to v2, whose answer is only logged. The held-out rows are the traffic here, so
# both versions can be compared with the true outcomes too.

# %%
stable_model, candidate_model = service.registry.get(ROLLOUT_MODEL, "1"), service.registry.get(ROLLOUT_MODEL, "2")
shadow = []
for row, truth in zip(patients, progression):
    served = stable_model.predict([row])[0]        # the user gets this one
    mirrored = candidate_model.predict([row])[0]   # computed on a copy, never returned
    shadow.append((served, mirrored, truth))


def mae(pairs):
    return sum(abs(p - y) for p, y in pairs) / len(pairs)


shadow_row = {"requests mirrored": len(shadow),
              "v1 MAE (served)": round(mae([(s, y) for s, _, y in shadow]), 3),
              "v2 MAE (shadow)": round(mae([(m, y) for _, m, y in shadow]), 3),
              "largest disagreement": round(max(abs(s - m) for s, m, _ in shadow), 4)}
table([shadow_row], caption="Shadow: both versions on the same mirrored traffic (measured)")

# %% [markdown]
# A shadow shows how the candidate *would* have answered, at no risk to users, and costs a
# second model call per request. It cannot show what happens when clients *receive* its
# answers, or whether they can talk to it at all: that is the canary's job.
#
# ## 3. A canary that goes wrong, and the rollback
#
# Suppose v2 had shipped with `request_id` **required** (`CONTRACT_V2_REQUIRED` as v2's
# contract), and the team starts a canary: 10 % of users, chosen by a stable hash of the user
# id (`lesson.teaching.rollout.Canary`), are pinned to v2, the rest to v1. Every client in the
# field is still an old one. A **guard** watches the candidate's answers and rolls the canary
# back when more than 5 % of at least 20 have failed.

# %%
from lesson.teaching.rollout import Canary, CanaryEndpoint, CanaryGuard

lab.show_source(Canary.arm)

# %% [markdown]
# The load test below sends 600 requests at 150 a second (open loop) from 300 users in turn,
# through the canary. The endpoint records, for every request, the user, the version the
# canary chose and the status.

# %%
from IPython.display import display

from lesson.widgets.targets import Target

users = [f"user-{i:03d}" for i in range(300)]
guard = CanaryGuard(max_error_rate=0.05, min_requests=20)
broken = RolloutClient.connect(rollout_service({"1": service.contracts["1"], "2": CONTRACT_V2_REQUIRED}),
                               over_http=over_http)
bad_canary = Canary(stable="1", candidate="2", share=0.10)
bad_endpoint = CanaryEndpoint(broken, bad_canary, users, guard=guard)
lab.add_target(Target(key="canary", label="canary: 10 % of users on v2 (request_id required), the rest on v1",
                      pattern="REST" if over_http else "in-process", transport=broken.url or "in-process",
                      endpoint=bad_endpoint, n_features=lab.model.n_features, sample_rows=patients,
                      description="Each request is the next user's, routed by the canary."))
canary_panel = lab.panel("canary", targets=["canary"], requests=600, rate=150, concurrency=8,
                         title="A canary under load")
display(canary_panel)
canary_run = await canary_panel.run_async()
canary_panel.report()
broken.close()

# %%
from lesson.teaching.rollout import arm_summary, users_on_both_arms

tick = lesson.clock_resolution()
table(arm_summary(bad_endpoint.outcomes, clock_tick_s=tick),
      caption="The canary's own record, by the share configured when each request was routed")

# %%
from lesson.widgets.charts import display_chart, line_chart

WINDOW = 50
in_order = sorted(bad_endpoint.outcomes, key=lambda o: o.index)
window_rows = []
for start in range(0, len(in_order), WINDOW):
    chunk = in_order[start:start + WINDOW]
    window_rows += [{"request": start + len(chunk), "series": "routed to v2", "count": sum(o.version == "2" for o in chunk)},
                    {"request": start + len(chunk), "series": "failed", "count": sum(o.status != 200 for o in chunk)}]
same = all(a["count"] == b["count"] for a, b in zip(window_rows[::2], window_rows[1::2]))
spec = line_chart(window_rows, x="request", y="count", color="series",
                  title=f"Per {WINDOW} requests: routed to the canary, and failed (measured)"
                  + (" — the lines coincide: every request v2 got failed" if same else ""),
                  x_title="requests sent", y_title=f"requests of {WINDOW}")
spec["encoding"]["strokeDash"] = {"field": "series", "type": "nominal", "legend": None}  # coinciding lines stay visible
display_chart(spec)

# %%
tried = [o for o in bad_endpoint.outcomes if o.arm == "candidate"]
failures = sorted({o.status for o in tried if o.status != 200})
after = bad_endpoint.after_rollback()
in_flight = (bad_endpoint.routed_before_rollback or 0) - (bad_endpoint.rolled_back_at or 0)
Markdown(
    (f"The guard rolled the canary back when request {bad_endpoint.rolled_back_at} answered"
     + (f" ({in_flight} more were already on their way, routed at the old share: the table's "
        f"{bad_endpoint.routed_before_rollback} at that share count them)" if in_flight else "")
     + ", after v2 had answered "
     f"{len(tried)} requests and failed {sum(o.status != 200 for o in tried)} of them "
     f"(status {', '.join(map(str, failures))}: old clients send no `request_id`). "
     if bad_endpoint.rolled_back_at is not None else "The guard did not roll back on this run. ")
    + (f"The {len(after)} requests routed after the rollback went to v{', v'.join(sorted({o.version for o in after}))} and "
       f"{sum(o.status != 200 for o in after)} failed. " if after else "")
    + f"The load test counted {sum(canary_run.result.errors.values())} errors ({canary_run.result.successes} "
    f"answered of {canary_run.result.requests}); the canary's record also holds the harness's "
    f"{len(bad_endpoint.outcomes) - canary_run.result.requests} warm-up requests. "
    f"{users_on_both_arms(bad_endpoint.outcomes)} users were answered by both versions at one share: a user's arm "
    "depends only on their hash, so the users who saw the failure were the canary's, and only until the rollback.")

# %% [markdown]
# ## 4. The fix, then widen: 10 %, 50 %, everyone
#
# The contract is fixed (`request_id` optional again: the v2 of section 1) and the canary
# starts over. At each share every one of the 300 users sends one request; the table gives
# the share measured beside the share configured, and the guard watches all along.

# %%
canary = Canary(stable="1", candidate="2", share=0.10)
endpoint = CanaryEndpoint(client, canary, users, guard=guard)
payloads = [{"instances": [patients[i % len(patients)]]} for i in range(len(users))]
stages = {}
for share in (0.10, 0.50, 1.00):
    canary.set_share(share)
    stages[share] = endpoint.send(payloads)
table(arm_summary(endpoint.outcomes, clock_tick_s=tick), caption="Widening the fixed canary (measured)")

# %%
from lesson.widgets.charts import bar_chart

on_candidate = {share: {o.user for o in outcomes if o.arm == "candidate"} for share, outcomes in stages.items()}
share_rows = [{"stage": f"{share:.0%} configured", "share of": what, "percent": value}
              for share, outcomes in stages.items()
              for what, value in (("configured", 100 * share),
                                  ("measured (requests on v2)", 100 * len(on_candidate[share]) / len(outcomes)))]
display_chart(bar_chart(share_rows, x="stage", y="percent", color="share of",
                        title="Canary share: configured against measured"))
widened_only = all(on_candidate[a] <= on_candidate[b] for a, b in zip(stages, list(stages)[1:]))
errors = sum(o.status != 200 for o in endpoint.outcomes)
Markdown(
    "; ".join(f"at {share:.0%} configured, {len(on_candidate[share])} of {len(users)} users "
              f"({len(on_candidate[share]) / len(users):.1%}) were on v2" for share in stages) + ". "
    + ("Every user on v2 at one share stayed on v2 at the next: widening only moved users onto the candidate. "
       if widened_only else "Some users moved back to v1 when the share grew. ")
    + f"{errors} of {len(endpoint.outcomes)} requests failed, and the guard "
    + ("stepped in." if endpoint.rolled_back_at is not None else "never stepped in.")
    + " With a few hundred users the measured share is the share of *users* whose hash falls below the "
    "line, so it is close to, not exactly, the share configured.")

# %% [markdown]
# **Promote, then let the new clients speak.** At 100 % v2 serves everyone: make it the
# stable version and retire the canary. Only now do new clients start sending `request_id`:
# half of the users upgrade their app.

# %%
promoted = Canary(stable="2", candidate="1", share=0.0)  # v2 is the stable version; nothing on v1
new_users = set(users[::2])
after_promotion = CanaryEndpoint(client, promoted, users, kind_of=lambda user: "new" if user in new_users else "old")
outcomes = after_promotion.send(payloads)
who_got_what = {}
for o in outcomes:
    key = (o.client, f"v{o.version}", o.status)
    who_got_what[key] = who_got_what.get(key, 0) + 1
display(table([{"client": c, "answered by": v, "status": s, "requests": n}
               for (c, v, s), n in sorted(who_got_what.items())],
              caption="After promotion: which client got which version (measured)"))
client.close()

# %% [markdown]
# ## 5. Unsafe deserialisation: a pickle runs code when it is loaded
#
# Model files travel: from a training job to a bucket, from a hub to a server. If the file is
# a pickle (or `joblib`, or a `torch.save` checkpoint loaded without `weights_only=True`),
# loading it runs whatever its author chose: a pickle is a small program, and an object's
# `__reduce__` names a callable for `pickle.loads` to call. The class below names
# `write_marker`, which writes one file into a temporary directory (an attacker would name
# `os.system`):

# %%
import tempfile

from lesson.teaching import deserialisation

lab.show_source(deserialisation.WritesMarkerWhenUnpickled)

# %%
with tempfile.TemporaryDirectory() as workdir:
    marker_demo = deserialisation.show_marker_written(workdir)
print(marker_demo.to_text())

# %% [markdown]
# Nothing warned; `pickle.loads` returned what `write_marker` returned, not a model. The
# lesson's artifacts are plain JSON files listed in a `manifest.json` with their size and
# sha256, and `load_artifact` checks every file before any of it is used. The next cell puts
# the same booby-trapped pickle where `weights.json` belongs in a copy of the artifact, in
# three ways an attacker might, and loads each copy — then, for comparison, gives the same
# bytes to `pickle.loads`:

# %%
with tempfile.TemporaryDirectory() as workdir:
    attempts = deserialisation.show_pickled_artifact_refused(workdir)
table([{"attempt": a.attack, "refused": a.refused, "error": a.error or "—", "marker file written": a.marker_written}
       for a in attempts], caption="Measured now: a pickle in place of weights.json")

# %% [markdown]
# ## What to notice
#
# Each point is computed from the runs above.

# %% tags=["hide-input"]
refused = [a for a in attempts if a.refused]
points = [
    f"- **Contracts decide who can talk to whom.** Of {len(matrix)} client-route pairs, {len(matrix) - len(failed)} were "
    "answered" + (f"; {failed[0]['client']} {failed[0]['route']} got {failed[0]['status']}" if failed else "")
    + ". Make every route accept a new field before any client sends it.",
    f"- **Shadow first.** v2 disagreed with v1 by at most {shadow_row['largest disagreement']} on "
    f"{shadow_row['requests mirrored']} mirrored requests (MAE {shadow_row['v1 MAE (served)']} served against "
    f"{shadow_row['v2 MAE (shadow)']} in shadow), and no user saw a v2 answer.",
    (f"- **A canary limits the damage; a guard ends it.** The broken v2 failed {sum(o.status != 200 for o in tried)} "
     f"requests of {len(bad_endpoint.outcomes)}, "
     + ("all on the canary's users, " if all(o.arm == "candidate" for o in bad_endpoint.outcomes if o.status != 200)
        else "some of them on the stable arm, ")
     + f"before the guard rolled it back when request "
     f"{bad_endpoint.rolled_back_at} answered; of the {len(after)} routed after that, "
     f"{sum(o.status != 200 for o in after)} failed."
     if bad_endpoint.rolled_back_at is not None else
     "- **A canary limits the damage.** On this run the guard did not roll back: look at the canary's record above."),
    f"- **Sticky, widening shares.** Configured {', '.join(f'{s:.0%}' for s in stages)}; measured "
    + ", ".join(f"{len(on_candidate[s]) / len(users):.1%}" for s in stages)
    + (", each stage's v2 users a superset of the last's" if widened_only else "")
    + f", with {errors} errors once the contract was fixed.",
    f"- **Promotion, then new clients.** After v2 became stable, "
    f"{sum(n for (c, v, s), n in who_got_what.items() if s == 200)} of {len(outcomes)} requests from old and new "
    "clients were answered by v2.",
    "- **Never unpickle what you did not produce.** `pickle.loads` "
    + ("wrote the marker file" if marker_demo.exists_after else "wrote no marker file")
    + f"; the artifact loader refused {len(refused)} of {len(attempts) - 1} booby-trapped copies, and "
    + ("no marker was written until the plain `pickle.loads` of the same bytes"
       if attempts[-1].marker_written and not any(a.marker_written for a in attempts[:-1])
       else "a marker was written during a load the loader should have refused")
    + ": a JSON parser builds lists and numbers, it never calls code.",
]
Markdown("\n".join(points))

# %% [markdown]
# ## Check yourself
#
# A few questions on the ideas of this notebook that are most often misunderstood. Click an
# option: each one says why it is right or wrong. The buttons need a running kernel: on the
# site's page, open the notebook in JupyterLite to answer. (Without widgets, the cell prints
# the questions and how to answer them from code.)

# %%
from lesson.teaching.quizzes import quiz_for
from lesson.widgets.quiz import show_quiz

show_quiz(quiz_for("08-rollout"))

# %% [markdown]
# ## Exercises
#
# **1. Pick a canary's users.** Write `arm(user, share)` returning `"candidate"` or
# `"stable"`: about `share` of all users on the candidate, the same arm for a user on every
# call and in every process (two replicas must agree), and widening the share only moves
# users onto the candidate, never back.

# %%
from lesson.teaching.exercises import check


def arm(user, share):
    raise NotImplementedError("your code here")


check("canary_arm", arm)

# %% [markdown]
# **2. Wait, widen or roll back.** The guard above judges errors only. Write
# `verdict(stable, candidate, *, max_error_rate, max_slowdown, min_requests)` where each arm
# is a dict `{"requests": ..., "errors": ..., "p99_ms": ...}`: return `"wait"` until the
# candidate has `min_requests` answers, `"rollback"` if its error rate exceeds the stable
# arm's by more than `max_error_rate` or its p99 is more than `max_slowdown` times the stable
# arm's, and `"widen"` otherwise.

# %%
def verdict(stable, candidate, *, max_error_rate, max_slowdown, min_requests):
    raise NotImplementedError("your code here")


check("canary_verdict", verdict)

# %% [markdown]
# **3. A rollback plan (no checker).** Change the guard in section 3 to `max_error_rate=0.5`
# and rerun the canary: how many failed answers reach users before it rolls back? Then set
# the canary's share to 1 % instead of 10 %: what does a small share buy, and what does it
# cost in time before the guard has seen `min_requests` answers?

# %%
lab.close()
