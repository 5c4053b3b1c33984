"""Arrow schemas of the normalized tables: one source of truth for the lake and the warehouse.

Each table states its grain. Money is decimal128(18, 2); shares decimal128(9, 4); indicator values
decimal128(24, 6) (targets like 0.05% or 1,000,000 人 both fit exactly).
"""
from __future__ import annotations

import pyarrow as pa

AMOUNT = pa.decimal128(18, 2)
SHARE = pa.decimal128(9, 4)
VALUE = pa.decimal128(24, 6)
TS = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    # grain: one row per department (id derives from the normalized name, stable across runs)
    "dim_department": pa.schema([
        ("department_id", pa.string()),
        ("department_name", pa.string()),
        ("region", pa.string()),
    ]),
    # grain: one row per distinct (lv1, lv2, lv3)
    "dim_indicator": pa.schema([
        ("indicator_id", pa.string()),
        ("lv1", pa.string()),
        ("lv2", pa.string()),
        ("lv3", pa.string()),
        ("lv1_class", pa.string()),  # cost, management, effectiveness, social_effect, sustainability, output, outcome, satisfaction
    ]),
    # grain: one row per ingested document version (document_id derives from the file's sha256)
    "fact_document": pa.schema([
        ("document_id", pa.string()),
        ("department_id", pa.string()),
        ("fiscal_year", pa.int32()),
        ("source_path", pa.string()),
        ("sha256", pa.string()),
        ("format", pa.string()),
        ("encoding", pa.string()),
        ("is_current", pa.bool_()),
        ("loaded_at", TS),
        ("problem_count", pa.int32()),
        ("agency_code", pa.string()),  # 部门预算编码
        ("filed_on", pa.date32()),  # 填报日期
        ("source_mtime", TS),  # the file's modification time when fingerprinted: orders versions of one run
    ]),
    # grain: document × flow × item × year
    "fact_funding": pa.schema([
        ("document_id", pa.string()),
        ("department_id", pa.string()),
        ("fiscal_year", pa.int32()),
        ("flow", pa.string()),
        ("item", pa.string()),
        ("year", pa.int32()),
        ("amount", AMOUNT),
        ("share_pct", SHARE),
        ("amount_digits", pa.int8()),  # decimals stated in the file: sets the rounding tolerance
        ("share_digits", pa.int8()),
        ("line", pa.int32()),
        ("source_cell", pa.string()),  # where the row is in the file, in its own terms (line 12, sheet X R12)
        ("item_class", pa.string()),  # fiscal_appropriation … total (contract §4); null for an unknown item
    ]),
    # grain: document × indicator × horizon × year (year null for long-term targets); key: document × value_no
    "fact_indicator_value": pa.schema([
        ("document_id", pa.string()),
        ("department_id", pa.string()),
        ("fiscal_year", pa.int32()),
        ("indicator_id", pa.string()),
        ("horizon", pa.string()),
        ("year", pa.int32()),
        ("raw", pa.string()),
        ("comparator", pa.string()),
        ("value", VALUE),
        ("unit", pa.string()),
        ("basis", pa.string()),
        ("category", pa.string()),
        ("line", pa.int32()),
        ("source_cell", pa.string()),  # where the row is in the file, in its own terms (line 12, sheet X R12)
        ("lv1_class", pa.string()),
        ("value_type", pa.string()),  # 指标值类型: 定量 / 定性
        ("explanation", pa.string()),  # 指标解释
        ("scoring_rule", pa.string()),  # 评(扣)分标准
        ("remark", pa.string()),  # 备注
        ("weight", SHARE),  # 权重 / 分值
        ("extra", pa.string()),  # JSON object: columns pifu does not know yet, by their header text
        ("value_no", pa.int32()),  # 1… in document order: a document may state the same indicator twice
    ]),
    # grain: document × row of its 年度履职目标 table (row_no, 1-based in table order)
    "fact_duty_target": pa.schema([
        ("document_id", pa.string()),
        ("department_id", pa.string()),
        ("fiscal_year", pa.int32()),
        ("row_no", pa.int32()),
        ("function", pa.string()),  # 部门职能
        ("task", pa.string()),  # 年度目标任务
        ("item", pa.string()),  # 支出项目名称
        ("amount", AMOUNT),  # 预算金额（万元）
        ("amount_digits", pa.int8()),
        ("line", pa.int32()),
        ("source_cell", pa.string()),
    ]),
    # grain: document × section × item_no
    "fact_text_item": pa.schema([
        ("document_id", pa.string()),
        ("section", pa.string()),
        ("item_no", pa.int32()),
        ("text", pa.string()),
    ]),
    # grain: document × problem (every repair or ambiguity the parser resolved)
    "fact_problem": pa.schema([
        ("document_id", pa.string()),
        ("problem_no", pa.int32()),
        ("code", pa.string()),
        ("severity", pa.string()),
        ("location", pa.string()),
        ("message", pa.string()),
        ("attribution", pa.string()),  # source (the form lacks it) | extraction (pifu repaired or guessed)
    ]),
    # grain: check × document (× row where it applies)
    "dq_result": pa.schema([
        ("check_name", pa.string()),
        ("document_id", pa.string()),
        ("row_ref", pa.string()),
        ("severity", pa.string()),
        ("passed", pa.bool_()),
        ("observed", pa.string()),
        ("expected", pa.string()),
        ("message", pa.string()),
        ("run_id", pa.string()),
        ("checked_at", TS),
        ("source_path", pa.string()),  # the document's file
        ("source_cell", pa.string()),  # failing rows: the rows the finding involves, in the file's terms
        ("attribution", pa.string()),  # failing rows: source (the form contradicts itself) | extraction
        ("problem_code", pa.string()),  # extraction: the fact_problem code on an involved row explaining it
        ("result_no", pa.int32()),  # 1… within its run: (run_id, result_no) is the key
    ]),
    # grain: rejected file (by sha256)
    "quarantine": pa.schema([
        ("source_path", pa.string()),
        ("sha256", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("quarantined_at", TS),
    ]),
}
