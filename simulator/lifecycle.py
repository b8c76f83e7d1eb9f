"""The life of one order group, planned in full when its first order arrives.

An outbound group is one order (sometimes 2 or 3 orders of the same customer to the same
consignee, consolidated on one shipment). Its plan covers the ERP order (created, maybe
updated or cancelled), the WMS stages, the TMS shipment (planned, maybe re-planned or
cancelled and replaced, milestones, proof of delivery) and the billing that follows.
Inbound and return orders skip the warehouse stages. Everything is planned in natural
time from ``t0`` and mapped through a ``Warp`` (identity for history, compression for live).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from random import Random
from typing import Any, Literal

from readmodel.documents import FULFILLMENT_STAGES
from simulator import catalog
from simulator.billing import Billing, freight_cents
from simulator.catalog import City, Mode, Warehouse
from simulator.context import Charge, CustomerWorld, SimContext, Store, Warp, address
from simulator.envelope import (
    FULFILLMENT_PROGRESSED,
    ORDER_CANCELLED,
    ORDER_CREATED,
    ORDER_UPDATED,
    SHIPMENT_CANCELLED,
    SHIPMENT_MILESTONE,
    SHIPMENT_PLANNED,
    SHIPMENT_POD,
    Pending,
)
from simulator.timeline import (
    Exceptions,
    Route,
    Timeline,
    distance_km,
    pick_hubs,
    plan_timeline,
    planned_delivery,
)
from simulator.times import DAY, HOUR, MINUTE, local_date, next_local_time, rfc3339

OrderType = Literal["OUTBOUND", "INBOUND", "RETURN"]

#: Probabilities of the things that go wrong (or just happen) to a group.
P_CONSOLIDATED = 0.08
P_ORDER_UPDATE = 0.10
P_CANCEL_BEFORE_RELEASE = 0.01
P_CANCEL_IN_FULFILLMENT = 0.02
P_SHIPMENT_REPLACED = 0.02
P_DELAY = 0.10
P_FAILED_ATTEMPT = 0.05
P_DAMAGE = 0.02
P_REFUSAL = 0.02
P_REPLAN_ON_DELAY = 0.5
P_APAC = 0.04
P_HUGE_ORDER = 0.01


@dataclass
class Order:
    order_id: str
    customer: CustomerWorld
    warehouse: Warehouse
    order_type: OrderType
    reference: str
    created: int
    ordered: int
    ship_from: dict[str, Any]
    ship_to: dict[str, Any]
    lines: list[dict[str, Any]]
    weight_kg: float
    requested: str = ""
    cancelled_at: int | None = None
    stage_times: dict[str, int] = field(default_factory=dict)

    def snapshot(self, warp: Warp) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "customerId": self.customer.profile.customer_id,
            "customerReference": self.reference,
            "orderType": self.order_type,
            "orderedAt": _erp(warp(self.ordered)),
            "requestedDeliveryDate": self.requested,
            "shipFrom": self.ship_from,
            "shipTo": self.ship_to,
            "lines": self.lines,
        }


def _erp(epoch: int) -> str:
    return rfc3339(epoch, catalog.ERP_TZ)


_LOCATIONS: dict[tuple[City, bool], dict[str, Any]] = {}


def location(city: City, with_position: bool = True) -> dict[str, Any]:
    """A milestone location; shared dicts, never mutated."""
    key = (city, with_position)
    found = _LOCATIONS.get(key)
    if found is None:
        found = {"city": city.name}
        if city.region is not None:
            found["region"] = city.region
        found["countryCode"] = city.country
        if with_position:
            found["lat"] = round(city.lat, 2)
            found["lon"] = round(city.lon, 2)
        _LOCATIONS[key] = found
    return found


class Lifecycle:
    """Plans order groups onto the shared queue."""

    def __init__(self, ctx: SimContext, billing: Billing, apac_from: int) -> None:
        self.ctx = ctx
        self.billing = billing
        self.apac_from = apac_from

    @property
    def rng(self) -> Random:
        return self.ctx.rng

    # --- entry point --------------------------------------------------------------------

    def arrive(self, t0: int, customer: CustomerWorld, warehouse: Warehouse, scale: float) -> None:
        warp = Warp(t0, scale)
        r = self.rng.random()
        if r < 0.82:
            self._outbound(t0, customer, warehouse, warp)
        elif r < 0.92:
            self._inbound(t0, customer, warehouse, warp)
        else:
            store = self.rng.choice(customer.stores[warehouse.region])
            self._return(t0, customer, warehouse, store, None, warp)

    # --- orders -------------------------------------------------------------------------

    def _lines(
        self, customer: CustomerWorld, factor: int = 1
    ) -> tuple[list[dict[str, Any]], float]:
        rng = self.rng
        if rng.random() < P_HUGE_ORDER:
            count = rng.randint(100, 600)
        else:
            count = 1 + int(29 * rng.random() ** 2.2)
        skus = (
            rng.sample(customer.skus, count)
            if count <= len(customer.skus)
            else [customer.skus[rng.randrange(len(customer.skus))] for _ in range(count)]
        )
        lines = []
        weight = 0.0
        for n, sku in enumerate(skus, start=1):
            top = {"EA": 240, "CS": 40, "BX": 60, "PL": 3}[sku.uom]
            qty = rng.randint(1, top if count < 100 else max(1, top // 10)) * factor
            weight += qty * sku.unit_kg
            lines.append(
                {
                    "lineNumber": n,
                    "sku": sku.sku,
                    "description": sku.description,
                    "quantity": qty,
                    "uom": sku.uom,
                }
            )
        return lines, weight

    def _new_order(
        self,
        created: int,
        customer: CustomerWorld,
        warehouse: Warehouse,
        order_type: OrderType,
        ship_from: dict[str, Any],
        ship_to: dict[str, Any],
        lines: list[dict[str, Any]] | None = None,
        factor: int = 1,
    ) -> Order:
        ctx, rng = self.ctx, self.rng
        prefix = {"OUTBOUND": "SO", "INBOUND": "IB", "RETURN": "RT"}[order_type]
        reference = ctx.customer_reference(
            customer.profile.customer_id,
            {"OUTBOUND": "PO", "INBOUND": "ASN", "RETURN": "RMA"}[order_type],
        )
        if lines is None:
            lines, weight = self._lines(customer, factor)
        else:
            weight = sum(line["quantity"] * 5.0 for line in lines)
        ordered = created - int(
            rng.uniform(5, 3 * HOUR) if rng.random() < 0.3 else rng.uniform(3, 120)
        )
        return Order(
            f"{prefix}-{ctx.order_no()}",
            customer,
            warehouse,
            order_type,
            reference,
            created,
            ordered,
            ship_from,
            ship_to,
            lines,
            weight,
        )

    def _emit_order(self, order: Order, event_type: str, at: int, warp: Warp) -> None:
        data = order.snapshot(warp)
        cid = order.customer.profile.customer_id
        self.ctx.emit(
            Pending(
                event_type, catalog.ERP_SOURCE, order.order_id, cid, warp(at), catalog.ERP_TZ, data
            )
        )

    def _cancel_order(self, order: Order, at: int, warp: Warp) -> None:
        reason = self.rng.choice(catalog.ORDER_CANCEL_REASONS)
        data = {"orderId": order.order_id, "reason": reason, "cancelledAt": _erp(warp(at))}
        cid = order.customer.profile.customer_id
        self.ctx.emit(
            Pending(
                ORDER_CANCELLED,
                catalog.ERP_SOURCE,
                order.order_id,
                cid,
                warp(at),
                catalog.ERP_TZ,
                data,
            )
        )

    # --- outbound -----------------------------------------------------------------------

    def _outbound(self, t0: int, customer: CustomerWorld, warehouse: Warehouse, warp: Warp) -> None:
        """One outbound shipment's whole life: its orders, their warehouse stages, the plan,
        the carrier's timeline and the bills. The steps draw from the one seeded generator in
        this order; keep it, or the same seed no longer gives the same world."""
        store, apac = self._destination(t0, customer, warehouse, warp)
        orders = self._outbound_orders(t0, customer, warehouse, store, apac)
        route = self._route(orders, warehouse, store, apac)
        pickup, arrival, promised = self._schedule(orders, route, warehouse, store, warp)
        cancel_at = self._order_events(orders, warp)
        shipment = self._plan_shipment(
            customer, orders, route, (pickup, arrival, promised), warehouse, store, cancel_at, warp
        )
        if shipment is not None:
            self._carry(
                customer, warehouse, store, orders, shipment, route, arrival, promised, warp
            )

    def _destination(
        self, t0: int, customer: CustomerWorld, warehouse: Warehouse, warp: Warp
    ) -> tuple[Store, bool]:
        """Where the goods go, and whether they go to the new APAC source's network."""
        rng = self.rng
        store = rng.choice(customer.stores[warehouse.region])
        apac = (
            warehouse.warehouse_id in ("DC-RNO", "DC-RTM")
            and warp(t0) >= self.apac_from
            and rng.random() < P_APAC
        )
        if apac:
            city = rng.choice(catalog.APAC_CITIES)
            store = Store(
                f"{customer.profile.consignee} {city.name}",
                city,
                address(f"{rng.randint(1, 99)} Harbour Road", city),
            )
        return store, apac

    def _outbound_orders(
        self, t0: int, customer: CustomerWorld, warehouse: Warehouse, store: Store, apac: bool
    ) -> list[Order]:
        """One order, or a few consolidated into one shipment."""
        rng = self.rng
        count = rng.randint(2, 3) if not apac and rng.random() < P_CONSOLIDATED else 1
        ship_from = {
            "warehouseId": warehouse.warehouse_id,
            "name": warehouse.name,
            "address": _wh_address(warehouse),
        }
        ship_to = {"name": store.name, "address": store.address}
        orders = []
        created = t0
        for _ in range(count):
            orders.append(
                self._new_order(created, customer, warehouse, "OUTBOUND", ship_from, ship_to)
            )
            created += int(rng.uniform(10 * MINUTE, 3 * HOUR))
        return orders

    def _route(self, orders: list[Order], warehouse: Warehouse, store: Store, apac: bool) -> Route:
        """The carrier source, mode and hubs, from the weight and the lanes."""
        weight = sum(o.weight_kg for o in orders)
        lines = sum(len(o.lines) for o in orders)
        mode: Mode
        if apac:
            source, mode, network = (
                catalog.APAC_ROAD,
                ("AIR" if weight < 800 else "OCEAN"),
                catalog.APAC_HUBS,
            )
        else:
            if len(orders) == 1 and weight <= 60 and lines <= 6:
                mode = "PARCEL"
            else:
                mode = "LTL" if weight <= 9000 else "FTL"
            if warehouse.region == "EU":
                source, network = catalog.EU_ROAD, catalog.EU_HUBS
            else:
                source = catalog.US_PARCEL if mode == "PARCEL" else catalog.US_ROAD
                network = catalog.US_HUBS
        return Route(
            source,
            mode,
            warehouse.city,
            store.city,
            pick_hubs(network, warehouse.city, store.city, mode),
        )

    def _schedule(
        self, orders: list[Order], route: Route, warehouse: Warehouse, store: Store, warp: Warp
    ) -> tuple[int, int, int]:
        """Warehouse stages in natural time; (pickup, truck arrival, promised delivery)."""
        rng = self.rng
        for order in orders:
            st = order.stage_times
            st["RELEASED"] = order.created + int(rng.uniform(5, 45) * MINUTE)
            st["ALLOCATED"] = st["RELEASED"] + int(rng.uniform(2, 30) * MINUTE)
            st["PICKING"] = st["ALLOCATED"] + int(rng.uniform(15 * MINUTE, 4 * HOUR))
            pick = (20 * MINUTE + 90 * len(order.lines)) * rng.uniform(0.7, 1.5)
            st["PICKED"] = st["PICKING"] + int(min(pick, 2 * DAY))
            st["PACKED"] = st["PICKED"] + int(rng.uniform(15 * MINUTE, 2 * HOUR))
        last_packed = max(o.stage_times["PACKED"] for o in orders)
        pickup = next_local_time(last_packed + HOUR, warehouse.city.tz, rng.randint(13, 17))
        arrival = max(pickup + int(rng.gauss(0, 15 * MINUTE)), last_packed + 10 * MINUTE)
        promised = planned_delivery(route, pickup)
        for order in orders:
            order.requested = local_date(
                warp(promised + int(rng.uniform(0, 2) * DAY)), store.city.tz
            )
        return pickup, arrival, promised

    def _order_events(self, orders: list[Order], warp: Warp) -> int | None:
        """The orders' ERP events (and the odd update); when a lone order is cancelled."""
        rng = self.rng
        cancel_at: int | None = None
        if len(orders) == 1 and rng.random() < P_CANCEL_BEFORE_RELEASE + P_CANCEL_IN_FULFILLMENT:
            st = orders[0].stage_times
            if rng.random() < P_CANCEL_BEFORE_RELEASE / (
                P_CANCEL_BEFORE_RELEASE + P_CANCEL_IN_FULFILLMENT
            ):
                cancel_at = orders[0].created + int(
                    rng.uniform(60, st["RELEASED"] - orders[0].created - 30)
                )
            else:
                cancel_at = int(rng.uniform(st["RELEASED"] + 60, st["PICKED"]))
        for order in orders:
            self._emit_order(order, ORDER_CREATED, order.created, warp)
            if rng.random() < P_ORDER_UPDATE:
                st = order.stage_times
                at = int(rng.uniform(st["RELEASED"] + 60, st["PICKING"] - 60))
                if cancel_at is None or at < cancel_at:
                    self._update(order)
                    self._emit_order(order, ORDER_UPDATED, at, warp)
        if cancel_at is not None:
            self._cancel_order(orders[0], cancel_at, warp)
        return cancel_at

    def _plan_shipment(
        self,
        customer: CustomerWorld,
        orders: list[Order],
        route: Route,
        times: tuple[int, int, int],
        warehouse: Warehouse,
        store: Store,
        cancel_at: int | None,
        warp: Warp,
    ) -> Shipment | None:
        """The shipment plan (maybe replaced by another carrier before pickup); None when the
        order was cancelled, after the warehouse's events for it."""
        rng = self.rng
        pickup, arrival, promised = times
        first_release = min(o.stage_times["RELEASED"] for o in orders)
        planned_at = min(
            first_release + int(rng.uniform(20 * MINUTE, 3 * HOUR)), arrival - 30 * MINUTE
        )
        planned_at = max(planned_at, first_release + 60)
        shipment = self._shipment(
            customer, route, [orders[0].order_id], pickup, promised, warehouse, store
        )
        if cancel_at is not None and cancel_at <= planned_at:
            self._wms(orders, warp, None, None, None, cancel_at)
            return None
        self._emit_planned(shipment, planned_at, warp)
        previous = planned_at
        for i, order in enumerate(orders[1:], start=1):
            shipment.order_ids = [o.order_id for o in orders[: i + 1]]
            at = order.stage_times["RELEASED"] + int(rng.uniform(5, 30) * MINUTE)
            previous = max(min(at, arrival - (len(orders) - i) * 120), previous + 60)
            self._emit_planned(shipment, previous, warp)
        if cancel_at is not None:
            self._cancel_shipment(shipment, cancel_at + int(rng.uniform(5, 60) * MINUTE), warp)
            self._wms(orders, warp, None, None, None, cancel_at)
            return None
        if (
            len(orders) == 1
            and warp.scale == 1.0
            and rng.random() < P_SHIPMENT_REPLACED
            and arrival - planned_at > 2 * HOUR
        ):
            cancelled = planned_at + int((arrival - planned_at) * rng.uniform(0.2, 0.6))
            self._cancel_shipment(shipment, cancelled, warp)
            replacement = self._shipment(
                customer, route, shipment.order_ids, pickup, promised, warehouse, store
            )
            self._emit_planned(replacement, cancelled + int(rng.uniform(5, 30) * MINUTE), warp)
            shipment = replacement
        return shipment

    def _carry(
        self,
        customer: CustomerWorld,
        warehouse: Warehouse,
        store: Store,
        orders: list[Order],
        shipment: Shipment,
        route: Route,
        arrival: int,
        promised: int,
        warp: Warp,
    ) -> None:
        """The carrier's timeline, the warehouse's loading, the bills, and a refused
        delivery's return to the warehouse."""
        rng = self.rng
        exceptions = Exceptions(
            delayed=rng.random() < P_DELAY,
            failed_attempt=rng.random() < P_FAILED_ATTEMPT,
            damaged=bool(route.hubs) and rng.random() < P_DAMAGE,
            refused=rng.random() < P_REFUSAL,
        )
        timeline = plan_timeline(rng, route, arrival, promised, exceptions)
        loaded = arrival + int(rng.uniform(5, 18) * MINUTE)
        self._wms(orders, warp, shipment.shipment_id, loaded, timeline.departed_at, None)
        self._track(shipment, timeline, warp)
        done = timeline.delivered_at or timeline.refused_at
        for order in orders:
            shipped = timeline.departed_at + 600
            self.billing.record(
                customer.profile.customer_id,
                Charge(
                    warp(shipped),
                    "HANDLING",
                    f"Pick & pack {order.order_id}",
                    450 + 40 * len(order.lines),
                    order.order_id,
                ),
            )
        if done is not None:
            self._bill_freight(customer, shipment, orders, route, timeline, done, warp)
        if timeline.refused_at is not None:
            refused = timeline.refused_at
            all_lines = [
                dict(line, lineNumber=n)
                for n, line in enumerate((line for o in orders for line in o.lines), start=1)
            ]
            later = refused + int(rng.uniform(2 * HOUR, DAY))
            self.ctx.call(
                warp(later),
                lambda t: self._return(
                    t, customer, warehouse, store, all_lines, Warp(t, warp.scale)
                ),
            )

    def _update(self, order: Order) -> None:
        rng = self.rng
        kind = rng.random()
        if kind < 0.4:
            requested = date.fromisoformat(order.requested)
            order.requested = (requested + timedelta(days=rng.randint(1, 3))).isoformat()
        elif kind < 0.8:
            lines = list(order.lines)
            i = rng.randrange(len(lines))
            lines[i] = dict(
                lines[i],
                quantity=max(1, lines[i]["quantity"] + rng.choice((-5, -2, -1, 1, 2, 5, 10))),
            )
            order.lines = lines
        else:
            sku = rng.choice(order.customer.skus)
            order.lines = [
                *order.lines,
                {
                    "lineNumber": len(order.lines) + 1,
                    "sku": sku.sku,
                    "description": sku.description,
                    "quantity": rng.randint(1, 12),
                    "uom": sku.uom,
                },
            ]

    # --- warehouse ----------------------------------------------------------------------

    def _wms(
        self,
        orders: list[Order],
        warp: Warp,
        shipment_id: str | None,
        loaded: int | None,
        departed: int | None,
        cancel_at: int | None,
    ) -> None:
        """The warehouse's stage events of each order, up to a cancellation if any."""
        rng = self.rng
        for order in orders:
            wh = order.warehouse
            st = dict(order.stage_times)
            if loaded is not None and departed is not None:
                st["LOADED"] = loaded
                st["SHIPPED"] = departed + int(rng.uniform(1, 15) * MINUTE)
            picked_qty, handling_units = self._counts(order)
            for stage in FULFILLMENT_STAGES:  # in the order they happen
                at = st.get(stage)
                if at is None or (cancel_at is not None and at >= cancel_at):
                    break
                t = warp(at)
                data = _stage_data(order, stage, t, shipment_id, handling_units, picked_qty)
                refs = (shipment_id,) if shipment_id is not None and "shipmentId" in data else ()
                self.ctx.emit(
                    Pending(
                        FULFILLMENT_PROGRESSED,
                        wh.source,
                        order.order_id,
                        order.customer.profile.customer_id,
                        t,
                        wh.city.tz,
                        data,
                        refs,
                    )
                )

    def _counts(self, order: Order) -> tuple[list[int], list[dict[str, Any]]]:
        """What was picked of each line (now and then a short pick), and the handling units."""
        rng = self.rng
        picked_qty = [
            line["quantity"]
            - (
                rng.randint(1, line["quantity"])
                if line["quantity"] > 1 and rng.random() < 0.03
                else 0
            )
            for line in order.lines
        ]
        per_unit = 25.0 if order.weight_kg < 60 else 450.0
        units = min(40, max(1, math.ceil(order.weight_kg / per_unit)))
        handling_units = [
            {"sscc": self.ctx.sscc(), "weightKg": round(max(order.weight_kg, 0.5) / units, 1)}
            for _ in range(units)
        ]
        return picked_qty, handling_units

    # --- transport ----------------------------------------------------------------------

    def _shipment(
        self,
        customer: CustomerWorld,
        route: Route,
        order_ids: list[str],
        pickup: int,
        promised: int,
        origin: Warehouse | Store,
        destination: Warehouse | Store,
    ) -> Shipment:
        rng = self.rng
        carrier = rng.choice(catalog.carriers_for(route.source, route.mode))
        service = {
            "PARCEL": ("GROUND", "GROUND", "2DAY"),
            "LTL": ("STANDARD", "STANDARD", "GUARANTEED"),
            "FTL": ("STANDARD", "DEDICATED"),
            "AIR": ("EXPRESS",),
            "OCEAN": ("FCL",),
        }[route.mode]
        return Shipment(
            shipment_id=f"SH-{self.ctx.shipment_no()}",
            customer_id=customer.profile.customer_id,
            order_ids=list(order_ids),
            route=route,
            carrier=carrier,
            tracking=self.ctx.tracking_number(carrier.tracking),
            origin=_party_address(origin),
            destination=_party_address(destination),
            pickup=pickup,
            promised=promised,
            service=rng.choice(service),
        )

    def _emit_planned(self, shipment: Shipment, at: int, warp: Warp) -> None:
        route = shipment.route
        data = {
            "shipmentId": shipment.shipment_id,
            "customerId": shipment.customer_id,
            "orderIds": list(shipment.order_ids),
            "mode": route.mode,
            "carrier": {"scac": shipment.carrier.scac, "name": shipment.carrier.name},
            "trackingNumber": shipment.tracking,
            "origin": shipment.origin,
            "destination": shipment.destination,
            "plannedPickupAt": rfc3339(warp(shipment.pickup), route.origin.tz),
            "plannedDeliveryAt": rfc3339(warp(shipment.promised), route.destination.tz),
            "serviceLevel": shipment.service,
        }
        t = warp(at)
        self.ctx.emit(
            Pending(
                SHIPMENT_PLANNED,
                route.source,
                shipment.shipment_id,
                shipment.customer_id,
                t,
                route.origin.tz,
                data,
                tuple(shipment.order_ids),
            )
        )

    def _cancel_shipment(self, shipment: Shipment, at: int, warp: Warp) -> None:
        route = shipment.route
        t = warp(at)
        reason = self.rng.choice(catalog.SHIPMENT_CANCEL_REASONS)
        if route.source in (catalog.US_ROAD, catalog.US_PARCEL):
            self._milestone(shipment, warp(at - 60), "CA", route.origin, None, None, None)
        data = {
            "shipmentId": shipment.shipment_id,
            "reason": reason,
            "cancelledAt": rfc3339(t, route.origin.tz),
        }
        self.ctx.emit(
            Pending(
                SHIPMENT_CANCELLED,
                route.source,
                shipment.shipment_id,
                shipment.customer_id,
                t,
                route.origin.tz,
                data,
            )
        )

    def _milestone(
        self,
        shipment: Shipment,
        t: int,
        code: str,
        city: City,
        reason: str | None,
        eta: int | None,
        signed_by: str | None,
    ) -> None:
        route = shipment.route
        data: dict[str, Any] = {
            "shipmentId": shipment.shipment_id,
            "milestoneId": self.ctx.milestone_id(route.source),
            "statusCode": code,
        }
        if reason is not None:
            data["reasonCode"] = reason
        data["occurredAt"] = rfc3339(t, city.tz)
        if eta is None or self.rng.random() < 0.7:
            data["location"] = location(city, route.mode != "PARCEL" or self.rng.random() < 0.5)
        if eta is not None:
            data["estimatedDeliveryAt"] = rfc3339(eta, route.destination.tz)
        if signed_by is not None:
            data["signedBy"] = signed_by
        self.ctx.emit(
            Pending(
                SHIPMENT_MILESTONE,
                route.source,
                shipment.shipment_id,
                shipment.customer_id,
                t,
                city.tz,
                data,
            )
        )

    def _track(self, shipment: Shipment, timeline: Timeline, warp: Warp) -> None:
        rng = self.rng
        for stop in timeline.stops:
            eta = warp(stop.eta) if stop.eta is not None else None
            self._milestone(
                shipment, warp(stop.at), stop.code, stop.city, stop.reason, eta, stop.signed_by
            )
            if (
                stop.code in ("SD", "DELAYED")
                and timeline.revised_eta is not None
                and rng.random() < P_REPLAN_ON_DELAY
            ):
                shipment.promised = timeline.revised_eta
                self._emit_planned(shipment, stop.at + 30 * MINUTE, warp)
        if timeline.delivered_at is not None and timeline.signed_by is not None:
            captured = warp(timeline.delivered_at + int(rng.uniform(5 * MINUTE, 6 * HOUR)))
            tz = shipment.route.destination.tz
            data = {
                "shipmentId": shipment.shipment_id,
                "signedBy": timeline.signed_by,
                "capturedAt": rfc3339(captured, tz),
                "documentUrl": f"https://docs.example-3pl.com/pod/{shipment.shipment_id}.pdf",
            }
            self.ctx.emit(
                Pending(
                    SHIPMENT_POD,
                    shipment.route.source,
                    shipment.shipment_id,
                    shipment.customer_id,
                    captured,
                    tz,
                    data,
                )
            )

    # --- inbound and returns ----------------------------------------------------------------

    def _inbound(self, t0: int, customer: CustomerWorld, warehouse: Warehouse, warp: Warp) -> None:
        rng = self.rng
        cities = catalog.US_CITIES if warehouse.region == "US" else catalog.EU_CITIES
        city = rng.choice(cities)
        supplier = Store(
            rng.choice(catalog.SUPPLIERS),
            city,
            address(f"{rng.randint(1, 800)} Industrial Park", city),
        )
        ship_from = {
            "warehouseId": warehouse.warehouse_id,
            "name": supplier.name,
            "address": supplier.address,
        }
        ship_to = {"name": warehouse.name, "address": _wh_address(warehouse)}
        order = self._new_order(t0, customer, warehouse, "INBOUND", ship_from, ship_to, factor=5)
        self._inbound_movement(
            order, supplier, warehouse, warp, "LTL" if order.weight_kg <= 9000 else "FTL"
        )

    def _return(
        self,
        t0: int,
        customer: CustomerWorld,
        warehouse: Warehouse,
        store: Store,
        lines: list[dict[str, Any]] | None,
        warp: Warp,
    ) -> None:
        ship_from = {
            "warehouseId": warehouse.warehouse_id,
            "name": store.name,
            "address": store.address,
        }
        ship_to = {"name": warehouse.name, "address": _wh_address(warehouse)}
        if lines is None:
            lines, _ = self._lines(customer)
            lines = lines[: self.rng.randint(1, 4)]
        order = self._new_order(t0, customer, warehouse, "RETURN", ship_from, ship_to, lines)
        mode: Mode = "PARCEL" if order.weight_kg <= 60 and len(lines) <= 6 else "LTL"
        self._inbound_movement(order, store, warehouse, warp, mode)

    def _inbound_movement(
        self, order: Order, origin: Store, warehouse: Warehouse, warp: Warp, mode: Mode
    ) -> None:
        """An order moving *to* the warehouse: ERP order, TMS shipment, no WMS stages."""
        rng = self.rng
        if warehouse.region == "EU":
            source, network = catalog.EU_ROAD, catalog.EU_HUBS
        else:
            source = catalog.US_PARCEL if mode == "PARCEL" else catalog.US_ROAD
            network = catalog.US_HUBS
        route = Route(
            source,
            mode,
            origin.city,
            warehouse.city,
            pick_hubs(network, origin.city, warehouse.city, mode),
        )
        planned_at = order.created + int(rng.uniform(HOUR, DAY))
        pickup = next_local_time(
            planned_at + int(rng.uniform(12, 48) * HOUR), origin.city.tz, rng.randint(9, 15)
        )
        promised = planned_delivery(route, pickup)
        order.requested = local_date(
            warp(promised + int(rng.uniform(0, 2) * DAY)), warehouse.city.tz
        )
        self._emit_order(order, ORDER_CREATED, order.created, warp)
        shipment = self._shipment(
            order.customer, route, [order.order_id], pickup, promised, origin, warehouse
        )
        self._emit_planned(shipment, planned_at, warp)
        arrival = pickup + int(rng.gauss(0, 20 * MINUTE))
        arrival = max(arrival, planned_at + HOUR)
        exceptions = Exceptions(
            delayed=rng.random() < P_DELAY, damaged=bool(route.hubs) and rng.random() < P_DAMAGE
        )
        timeline = plan_timeline(rng, route, arrival, promised, exceptions)
        self._track(shipment, timeline, warp)
        if timeline.delivered_at is not None:
            cid = order.customer.profile.customer_id
            label = "Receiving" if order.order_type == "INBOUND" else "Returns processing"
            self.billing.record(
                cid,
                Charge(
                    warp(timeline.delivered_at + HOUR),
                    "HANDLING",
                    f"{label} {order.order_id}",
                    300 + 55 * len(order.lines),
                    order.order_id,
                ),
            )
            self._bill_freight(
                order.customer, shipment, [order], route, timeline, timeline.delivered_at, warp
            )

    # --- billing ------------------------------------------------------------------------

    def _bill_freight(
        self,
        customer: CustomerWorld,
        shipment: Shipment,
        orders: list[Order],
        route: Route,
        timeline: Timeline,
        done: int,
        warp: Warp,
    ) -> None:
        """The freight of a delivered (or refused) shipment: billed weekly, or invoiced the
        next morning with a fuel surcharge."""
        rng = self.rng
        total = freight_cents(
            route.mode, distance_km(route.origin, route.destination), _weight(orders)
        )
        charges = self._freight_charges(shipment, orders, route, timeline, warp(done), total)
        profile = customer.profile
        if profile.billing == "weekly":
            for charge in charges:
                self.billing.record(profile.customer_id, charge)
            return
        rate = rng.uniform(0.11, 0.19)
        charges.append(
            Charge(
                warp(done),
                "FUEL",
                f"Fuel surcharge {rate * 100:.1f}%",
                round(total * rate),
                None,
                shipment.shipment_id,
            )
        )
        issued = next_local_time(done + int(rng.uniform(0, DAY)), catalog.ERP_TZ, 6)
        self.ctx.call(warp(issued), lambda t: self.billing.issue(profile, charges, issued, warp))

    def _freight_charges(
        self,
        shipment: Shipment,
        orders: list[Order],
        route: Route,
        timeline: Timeline,
        at: int,
        total: int,
    ) -> list[Charge]:
        """``total`` shared among the orders by weight, and the accessorials the trip earned."""
        weight = _weight(orders)
        sid = shipment.shipment_id
        lane = f"{route.origin.name}-{route.destination.name}"
        charges = []
        remaining = total
        for i, order in enumerate(orders):
            share = (
                remaining
                if i == len(orders) - 1
                else round(total * order.weight_kg / max(weight, 0.1))
            )
            remaining -= share
            charges.append(
                Charge(at, "FREIGHT", f"{route.mode} freight {lane}", share, order.order_id, sid)
            )
        if route.mode == "LTL" and self.rng.random() < 0.1:
            charges.append(Charge(at, "ACCESSORIAL", "Liftgate delivery", 7500, None, sid))
        if timeline.refused_at is not None:
            charges.append(
                Charge(at, "ACCESSORIAL", "Return to origin", total * 8 // 10, None, sid)
            )
        if (
            any(s.code in ("AH", "NOT_DELIVERED") for s in timeline.stops)
            and timeline.delivered_at is not None
        ):
            charges.append(Charge(at, "ACCESSORIAL", "Redelivery", 9500, None, sid))
        return charges


@dataclass
class Shipment:
    shipment_id: str
    customer_id: str
    order_ids: list[str]
    route: Route
    carrier: catalog.Carrier
    tracking: str
    origin: dict[str, Any]
    destination: dict[str, Any]
    pickup: int
    promised: int
    service: str


def _wh_address(warehouse: Warehouse) -> dict[str, Any]:
    return _WH_ADDRESSES[warehouse.warehouse_id]


_WH_ADDRESSES = {w.warehouse_id: address(w.line1, w.city) for w in catalog.WAREHOUSES}


def _party_address(party: Warehouse | Store) -> dict[str, Any]:
    if isinstance(party, Warehouse):
        return _wh_address(party)
    return party.address


def _stage_data(
    order: Order,
    stage: str,
    at: int,
    shipment_id: str | None,
    handling_units: list[dict[str, Any]],
    picked_qty: list[int],
) -> dict[str, Any]:
    """The ``fulfillment.progressed`` payload of one stage of ``order``."""
    wh = order.warehouse
    data: dict[str, Any] = {
        "orderId": order.order_id,
        "warehouseId": wh.warehouse_id,
        "stage": stage,
        "occurredAt": rfc3339(at, wh.city.tz),
    }
    if stage in ("LOADED", "SHIPPED") and shipment_id is not None:
        data["shipmentId"] = shipment_id
    if stage in ("PACKED", "LOADED"):
        data["handlingUnits"] = handling_units
    if stage == "PICKED":
        data["lines"] = [
            {"lineNumber": line["lineNumber"], "quantityPicked": q}
            for line, q in zip(order.lines, picked_qty, strict=True)
        ]
    elif stage == "LOADED":
        data["lines"] = [
            {"lineNumber": line["lineNumber"], "quantityShipped": q}
            for line, q in zip(order.lines, picked_qty, strict=True)
        ]
    return data


def _weight(orders: list[Order]) -> float:
    return sum(o.weight_kg for o in orders)
