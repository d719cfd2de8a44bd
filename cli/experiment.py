"""`dmfrec experiment start|report|stop`: A/B tests of the storefront's arms
(storage.experiments, storage.experiment_report)."""

from __future__ import annotations

import argparse
import json

from cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment", help="start, report or stop an A/B experiment",
        description="Customers are assigned to arms (dmf, popular, magento) by a stable hash "
        "with the experiment's own salt. `report` shows impressions, CTR, conversion and "
        "attributed revenue per visitor per arm with 95%% intervals; `stop --winner ARM` ends "
        "the experiment and serves ARM to everybody.")
    p.add_argument("action", choices=("start", "report", "stop"))
    p.add_argument("name", nargs="?", help="experiment name (report/stop: default the "
                   "running one)")
    p.add_argument("--arms", default="dmf=50,popular=50",
                   help="start: arms and shares (default: dmf=50,popular=50)")
    p.add_argument("--winner", help="stop: the arm everybody gets from now on")
    p.add_argument("--json", action="store_true", help="report: JSON")
    p.add_argument("--db-url", help="database URL (default: DMFREC_DATABASE_URL)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import redis as redis_lib
    from sqlalchemy.exc import SQLAlchemyError

    from config import get_settings
    from storage import experiments
    from storage.db import make_engine
    from storage.experiment_report import report

    settings = get_settings()
    engine = make_engine(args.db_url or settings.database_url)
    r = redis_lib.Redis.from_url(settings.redis_url, decode_responses=True,
                                 socket_connect_timeout=2, socket_timeout=5)
    try:
        if args.action == "start":
            if not args.name:
                raise CliError("start needs a NAME")
            config = experiments.start(engine, r, args.name, experiments.parse_arms(args.arms))
            print(f"experiment {config['name']} running: "
                  + ", ".join(f"{a} {s:g}" for a, s in config["arms"]))
        elif args.action == "stop":
            if not args.winner:
                raise CliError("stop needs --winner ARM")
            name = args.name or _running(engine)
            experiments.stop(engine, r, name, args.winner)
            print(f"experiment {name} stopped; {args.winner} is now served to everybody")
        else:
            print_report(report(engine, args.name), args.json)
    except experiments.ExperimentError as exc:
        raise CliError(str(exc)) from None
    except (SQLAlchemyError, redis_lib.RedisError) as exc:
        raise CliError(f"service error: {str(exc).splitlines()[0]}") from None
    finally:
        engine.dispose()
    return 0


def _running(engine) -> str:
    from storage import experiments

    row = experiments.get(engine)
    if row is None or row.status != "running":
        raise CliError("no experiment is running; name the one to stop")
    return row.name


def _fmt(value, ci=None, pct=False) -> str:
    if value is None:
        return "-"
    f = (lambda v: f"{100 * v:.2f}%") if pct else (lambda v: f"{v:.2f}")
    return f(value) + (f" [{f(ci[0])}, {f(ci[1])}]" if ci else "")


def print_report(rep: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rep, indent=2))
        return
    print(f"experiment {rep['experiment']} ({rep['status']}"
          + (f", winner {rep['winner']}" if rep["winner"] else "") + ")")
    if rep["rolled_up_until"]:
        print(f"  partial: impressions and clicks up to {rep['rolled_up_until']} were rolled up "
              "(DMFREC_ANALYTICS_RAW_DAYS); their visitors are not counted below")
    for a in rep["arms"]:
        print(f"  {a['arm']:8} visitors {a['visitors']:6}  impressions {a['impressions']:7}  "
              f"CTR {_fmt(a['ctr'], a['ctr_ci'], True)}  conversion "
              f"{_fmt(a['conversion'], a['conversion_ci'], True)}  revenue/visitor "
              f"{_fmt(a['revenue_per_visitor'], a['revenue_per_visitor_ci'])}")
    for c in rep["comparisons"]:
        ci = c["revenue_per_visitor_difference_ci"]
        print(f"  {c['arm']} vs {c['baseline']}: CTR p={_p(c['ctr_p_value'])}, conversion "
              f"p={_p(c['conversion_p_value'])}, revenue/visitor difference 95% CI "
              + (f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"))


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
