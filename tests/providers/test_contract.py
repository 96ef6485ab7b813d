"""The provider contract (tests/providers/contract.py), run for every provider.

Each class names the provider's harness and nothing else: what a provider cannot do is
declared in its harness's capabilities, which is the only reason a contract test skips.
"""

from __future__ import annotations

from tests.providers.contract import ProviderContract
from tests.providers.harnesses.acd import AcdHarness
from tests.providers.harnesses.business_central import BusinessCentralHarness
from tests.providers.harnesses.cegid_loop import CegidLoopHarness
from tests.providers.harnesses.chift import ChiftHarness, Sage100FrHarness, TiimeHarness
from tests.providers.harnesses.inqom import InqomHarness
from tests.providers.harnesses.minox import MinoxHarness
from tests.providers.harnesses.myunisoft import MyUnisoftHarness
from tests.providers.harnesses.odoo import OdooHarness
from tests.providers.harnesses.pennylane import PennylaneHarness
from tests.providers.harnesses.sandbox import SandboxHarness
from tests.providers.harnesses.xero import XeroHarness


class TestSandbox(ProviderContract):
    harness_class = SandboxHarness


class TestPennylane(ProviderContract):
    harness_class = PennylaneHarness


class TestInqom(ProviderContract):
    harness_class = InqomHarness


class TestMyUnisoft(ProviderContract):
    harness_class = MyUnisoftHarness


class TestCegidLoop(ProviderContract):
    harness_class = CegidLoopHarness


class TestAcd(ProviderContract):
    harness_class = AcdHarness


class TestMinox(ProviderContract):
    harness_class = MinoxHarness


class TestOdoo(ProviderContract):
    harness_class = OdooHarness


class TestBusinessCentral(ProviderContract):
    harness_class = BusinessCentralHarness


class TestXero(ProviderContract):
    harness_class = XeroHarness


class TestChift(ProviderContract):
    harness_class = ChiftHarness


class TestTiime(ProviderContract):
    harness_class = TiimeHarness


class TestSage100Fr(ProviderContract):
    harness_class = Sage100FrHarness
