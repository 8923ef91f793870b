"""Demo data: `flask --app wsgi:reviewer demo seed` files a few realistic reports so that a person
trying the product sees a populated queue.

Every report is fiction and says so ("Dữ liệu mẫu") in its narrative; the officials' names are
invented, built on words that mean "sample", "test" or "hypothetical", and marked "(tên giả định)".
Each report is exactly the document the citizen form would produce, and is filed through the same
`cases.file_report` as a real one, so its receipt opens it in the citizen portal.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import func, inspect, select

from crypto.receipts import lookup_id, parse_receipt
from portal.cases import Intake, file_report
from portal.db import Database, get_db
from portal.models import Case, IntakeKey
from portal.reports import REPORT_SCHEMA, ReportForm
from portal.settings import MIN_SECRET_LENGTH

PEPPER_VARIABLE = "RECEIPT_PEPPER"

Report = dict[str, Any]
Identity = dict[str, Any]

# What the form produces for a field left untouched.
_UNTOUCHED: Report = {
    "misconduct": [],
    "ongoing": "UNKNOWN",
    "reported_before": "NO",
    "retaliation_risk": "UNKNOWN",
    "protection_requested": False,
}


def _report(**fields: Any) -> Report:
    """A complete report document: every form field, untouched ones as the form leaves them."""
    unknown = set(fields) - set(ReportForm.REPORT_FIELDS)
    if unknown:
        raise ValueError(f"not report fields: {sorted(unknown)}")
    return {
        "schema": REPORT_SCHEMA,
        **{name: fields.get(name, _UNTOUCHED.get(name, "")) for name in ReportForm.REPORT_FIELDS},
    }


DEMO_REPORTS: list[tuple[Report, Identity | None]] = [
    # Bribery for a land-use certificate (sổ đỏ) at a ward office.
    (
        _report(
            report_type="THONG_TIN_TO_CAO",
            misconduct=["BRIBERY", "HARASSMENT"],
            sector="LAND",
            narrative=(
                "Dữ liệu mẫu: nhân vật và sự việc là hư cấu, chỉ dùng để thử hệ thống. Ngày 03/6/2026 gia đình tôi "
                "nộp hồ sơ đề nghị cấp Giấy chứng nhận quyền sử dụng đất (sổ đỏ) lần đầu cho thửa đất số 215, tờ bản "
                "đồ số 9, diện tích 68 m² tại bộ phận một cửa của phường, phiếu hẹn số 1482/PH-MC hẹn trả kết quả "
                "ngày 01/7/2026. Đến hạn không có kết quả. Ngày 14/7/2026 ông Lê Văn Mẫu, công chức địa chính phường, "
                "hẹn tôi ra quán nước gần trụ sở, nói hồ sơ “vướng ranh giới với hộ liền kề” và muốn làm nhanh thì "
                "phải “bồi dưỡng” 45.000.000 đồng, đưa trước 15.000.000 đồng. Ngày 20/7/2026 tôi chuyển 15.000.000 "
                "đồng vào số tài khoản ông ghi trên một mảnh giấy, tài khoản mang tên người khác. Sau đó ông nhắn tin "
                "Zalo nhiều lần đòi nốt 30.000.000 đồng, nếu không sẽ “trả hồ sơ để bổ sung”. Đến nay hồ sơ vẫn chưa "
                "được giải quyết. Ít nhất hai hộ khác cùng tổ dân phố 7 cho biết cũng bị đòi từ 20 đến 50 triệu đồng "
                "cho mỗi hồ sơ."
            ),
            money_involved="45.000.000 đồng bị đòi, đã chuyển 15.000.000 đồng ngày 20/7/2026",
            harm=(
                "Hồ sơ quá hạn gần 5 tháng; người dân phải chi tiền ngoài quy định mới được giải quyết thủ tục đất đai."
            ),
            subject_name="Ông Lê Văn Mẫu (tên giả định)",
            subject_position="Công chức địa chính – xây dựng",
            subject_agency="Ủy ban nhân dân phường (dữ liệu mẫu)",
            subject_level="WARD",
            period="Từ tháng 6/2026 đến nay",
            ongoing="YES",
            ward="00337",
            former_district="Quận Hoàng Mai",
            location="Bộ phận một cửa UBND phường; thửa đất số 215, tờ bản đồ số 9, tổ dân phố 7",
            evidence=(
                "Phiếu hẹn số 1482/PH-MC ngày 03/6/2026; ảnh chụp tin nhắn Zalo đòi tiền ngày 18/7 và 02/8/2026; "
                "biên lai chuyển khoản 15.000.000 đồng ngày 20/7/2026."
            ),
            knowledge="VICTIM",
            witnesses="Hai hộ ở tổ dân phố 7 cũng bị đòi tiền; họ chưa muốn lộ danh tính.",
            retaliation_risk="HIGH",
        ),
        None,
    ),
    # Harassment for gain over a construction permit.
    (
        _report(
            report_type="PHAN_ANH",
            misconduct=["HARASSMENT", "ABUSE_OF_POSITION"],
            sector="CONSTRUCTION",
            narrative=(
                "Dữ liệu mẫu (sự việc và nhân vật hư cấu, dùng để trình diễn hệ thống). Ngày 10/3/2026 tôi nộp hồ sơ "
                "xin giấy phép xây dựng nhà ở riêng lẻ 4 tầng, tổng diện tích sàn 210 m², tại bộ phận một cửa "
                "phường, mã hồ sơ H26.260310.0042. Hồ sơ đủ thành phần theo danh mục niêm yết, nhưng bà Phạm Thị "
                "Thử, cán bộ phụ trách cấp phép, ba lần trả hồ sơ (ngày 24/3, 15/4 và 12/5/2026) với những yêu cầu "
                "không có trong quy định: văn bản đồng ý có công chứng của tất cả các hộ liền kề, báo cáo khảo sát "
                "địa chất, “xác nhận của tổ dân phố về hiện trạng”. Lần thứ ba, bà Thử gợi ý tôi liên hệ một “công "
                "ty dịch vụ” của người quen để “lo trọn gói” với giá 30.000.000 đồng, bảo đảm có giấy phép trong 10 "
                "ngày. Hai hộ hàng xóm chấp nhận trả tiền đều nhận được giấy phép chỉ sau khoảng một tuần. Tôi không "
                "trả nên đến nay, sau hơn 8 tháng, hồ sơ vẫn chưa được cấp phép."
            ),
            money_involved="30.000.000 đồng “phí dịch vụ” cho mỗi hồ sơ",
            harm="Chậm khởi công hơn 8 tháng; gia đình phải thuê nhà ở tạm 7.000.000 đồng mỗi tháng.",
            subject_name="Bà Phạm Thị Thử (tên giả định)",
            subject_position="Cán bộ phụ trách cấp phép xây dựng",
            subject_agency="Phòng Kinh tế, Hạ tầng và Đô thị phường (dữ liệu mẫu)",
            subject_level="WARD",
            period="Từ 10/3/2026 đến nay",
            ongoing="YES",
            ward="00199",
            former_district="Quận Đống Đa",
            location="Ngõ 12 (giả định), phường Láng",
            evidence=(
                "Ba phiếu yêu cầu bổ sung hồ sơ ngày 24/3, 15/4 và 12/5/2026; danh thiếp của “công ty dịch vụ” "
                "do bà Thử đưa; giấy phép của hai hộ hàng xóm cấp sau khoảng một tuần."
            ),
            knowledge="VICTIM",
            witnesses="Hai hộ hàng xóm đã trả tiền; một trong hai người đồng ý làm chứng nếu được giữ kín tên.",
            retaliation_risk="LOW",
        ),
        None,
    ),
    # Collusion in a public hospital's equipment tender.
    (
        _report(
            report_type="THONG_TIN_TO_CAO",
            misconduct=["GROUP_INTERESTS", "INFLUENCE_PEDDLING", "WASTE"],
            sector="PROCUREMENT",
            narrative=(
                "Dữ liệu mẫu: bệnh viện, doanh nghiệp và người được nêu tên đều là giả định. Tôi làm việc tại Bệnh "
                "viện Đa khoa Sông Nhuệ (tên giả định), đơn vị sự nghiệp công lập của thành phố. Tháng 4/2026 bệnh "
                "viện đấu thầu gói thầu số 05/2026/MS “Mua sắm hệ thống chụp cắt lớp vi tính (CT) 128 lát cắt”, giá "
                "gói thầu 28,6 tỷ đồng. Thông số kỹ thuật trong hồ sơ mời thầu được chép gần như nguyên văn từ "
                "catalogue của một model duy nhất, kể cả những chi tiết không cần cho chuyên môn, nên chỉ một nhà "
                "thầu đáp ứng. Ngày 02/6/2026 ông Hoàng Minh Giả, Phó Giám đốc phụ trách vật tư, ký Quyết định số "
                "318/QĐ-BV phê duyệt kết quả lựa chọn Công ty TNHH Thiết bị Y tế Mẫu Việt (tên giả định) với giá "
                "27,9 tỷ đồng. Cùng model này được một bệnh viện tỉnh mua tháng 11/2025 với giá khoảng 19,5 tỷ đồng. "
                "Giám đốc công ty trúng thầu là em rể của ông Giả. Máy đã bàn giao ngày 15/8/2026 nhưng đến nay mới "
                "vận hành được một phần vì thiếu bản quyền phần mềm đi kèm."
            ),
            money_involved="Giá trúng thầu 27,9 tỷ đồng; chênh lệch ước khoảng 8,4 tỷ đồng so với giá thị trường",
            harm="Thất thoát ngân sách; bệnh nhân vẫn phải chuyển viện để chụp CT vì máy chưa vận hành đầy đủ.",
            subject_name="Ông Hoàng Minh Giả (tên giả định)",
            subject_position="Phó Giám đốc bệnh viện, phụ trách vật tư – thiết bị",
            subject_agency="Bệnh viện Đa khoa Sông Nhuệ (tên giả định)",
            subject_level="PUBLIC_UNIT",
            period="Tháng 4 đến tháng 8/2026",
            location="Khoa Chẩn đoán hình ảnh, Bệnh viện Đa khoa Sông Nhuệ (tên giả định)",
            evidence=(
                "Hồ sơ mời thầu gói 05/2026/MS đăng trên Hệ thống mạng đấu thầu quốc gia; Quyết định số "
                "318/QĐ-BV ngày 02/6/2026; kết quả trúng thầu công khai của bệnh viện tỉnh cho cùng model; biên bản "
                "bàn giao thiết bị ngày 15/8/2026."
            ),
            knowledge="INSIDER",
            witnesses="Một số thành viên tổ chuyên gia chấm thầu biết rõ việc này nhưng ngại lên tiếng.",
            retaliation_risk="HIGH",
        ),
        None,
    ),
    # "Chạy chức" in a public school's recruitment.
    (
        _report(
            report_type="THONG_TIN_TO_CAO",
            misconduct=["BUYING_POSTS", "PERSONNEL", "BRIBERY"],
            sector="EDUCATION",
            narrative=(
                "Dữ liệu mẫu: trường học và người được nêu tên đều là hư cấu. Trong kỳ xét tuyển viên chức giáo viên "
                "năm học 2026–2027 theo Thông báo số 112/TB-UBND ngày 15/6/2026, Trường Tiểu học Hoa Sen (tên giả "
                "định) có 3 chỉ tiêu giáo viên tiểu học và 1 chỉ tiêu giáo viên tiếng Anh. Bà Vũ Thị Định, hiệu "
                "trưởng, thông qua một người trung gian nhận của mỗi người dự tuyển từ 150 đến 200 triệu đồng với "
                "lời hứa “chắc chắn đỗ” vì bà là thành viên Ban kiểm tra, sát hạch. Kết quả công bố ngày 25/8/2026: "
                "cả 4 người trúng tuyển đều là người đã nộp tiền, trong đó có cháu ruột của bà Định, dù điểm phỏng "
                "vấn thấp hơn nhiều giáo viên hợp đồng đã dạy ở trường 5–6 năm. Đầu năm học, bà Định còn bổ nhiệm "
                "tổ trưởng chuyên môn khối 4 là người mới chuyển về được 2 tháng; trong trường đồn vị trí này “có "
                "giá” 80.000.000 đồng. Một giáo viên hợp đồng không trúng tuyển bị cắt tiết dạy sau khi phản đối."
            ),
            money_involved="150–200 triệu đồng mỗi suất tuyển dụng; 80.000.000 đồng cho chức tổ trưởng chuyên môn",
            harm="Người có năng lực bị loại; giáo viên hợp đồng lâu năm mất cơ hội và bị trù dập khi lên tiếng.",
            subject_name="Bà Vũ Thị Định (tên giả định)",
            subject_position="Hiệu trưởng",
            subject_agency="Trường Tiểu học Hoa Sen (tên giả định)",
            subject_level="PUBLIC_UNIT",
            period="Tháng 6 đến tháng 9/2026",
            ongoing="YES",
            ward="00454",
            former_district="Huyện Đông Anh",
            location="Trường Tiểu học Hoa Sen (tên giả định), xã Đông Anh",
            evidence=(
                "Thông báo số 112/TB-UBND ngày 15/6/2026; danh sách trúng tuyển công bố ngày 25/8/2026; ghi âm cuộc "
                "trao đổi với người trung gian (có thể cung cấp khi được bảo đảm giữ bí mật)."
            ),
            knowledge="INSIDER",
            witnesses="Một số giáo viên hợp đồng không trúng tuyển; họ sợ bị cắt hợp đồng nên chưa dám lên tiếng.",
            retaliation_risk="HIGH",
        ),
        None,
    ),
    # Misuse of a public car and other public assets.
    (
        _report(
            report_type="PHAN_ANH",
            misconduct=["MISUSE_OF_PROPERTY", "WASTE"],
            sector="FINANCE",
            narrative=(
                "Dữ liệu mẫu: cơ quan, biển số xe và người được nêu tên đều là giả định. Xe ô tô công 7 chỗ biển "
                "kiểm soát 29A-000.00 (biển số mẫu) của Ban Quản lý dự án Hạ tầng Mẫu (tên giả định) được bố trí "
                "phục vụ công tác chung, nhưng thực tế do ông Trần Văn Ảo, Trưởng phòng Kế hoạch – Tổng hợp, giữ và "
                "dùng riêng. Tôi tận mắt thấy xe chở gia đình ông đi Hạ Long các ngày 13–14/6/2026 và đi Sa Pa từ "
                "29/8 đến 02/9/2026; ngày thường xe đưa đón con ông đi học. Lệnh điều xe và sổ nhật trình ghi các "
                "chuyến này là “kiểm tra hiện trường dự án”, tiền xăng và phí cầu đường được thanh toán từ ngân "
                "sách, ước khoảng 6.000.000 đồng mỗi tháng. Ngoài ra, một máy tính xách tay và một máy chiếu mua "
                "bằng vốn dự án theo Hợp đồng số 27/2025/HĐMS được mang về nhà riêng và không có trong biên bản "
                "kiểm kê tài sản cuối năm 2025."
            ),
            money_involved="Khoảng 6.000.000 đồng tiền xăng, phí cầu đường mỗi tháng; thiết bị theo Hợp đồng 27/2025/HĐMS",
            harm="Lãng phí ngân sách; xe không có để phục vụ công tác kiểm tra hiện trường khi cần.",
            subject_name="Ông Trần Văn Ảo (tên giả định)",
            subject_position="Trưởng phòng Kế hoạch – Tổng hợp",
            subject_agency="Ban Quản lý dự án Hạ tầng Mẫu (tên giả định)",
            subject_level="CITY",
            period="Từ tháng 6/2026 đến nay",
            ongoing="YES",
            ward="00166",
            former_district="Quận Cầu Giấy",
            location="Trụ sở Ban Quản lý dự án Hạ tầng Mẫu (tên giả định), phường Cầu Giấy",
            evidence=(
                "Ảnh chụp xe tại Hạ Long ngày 13/6/2026 và tại Sa Pa ngày 30/8/2026; bản sao lệnh điều xe và sổ "
                "nhật trình tháng 6 và tháng 8/2026; biên bản kiểm kê tài sản ngày 31/12/2025."
            ),
            knowledge="EYEWITNESS",
            witnesses="Lái xe của cơ quan biết rõ lịch trình các chuyến đi.",
            reported_before="YES",
            reported_before_details=(
                "Ngày 15/9/2026 đã gửi thư qua hòm thư góp ý của cơ quan; đến nay chưa có phản hồi và xe vẫn được "
                "sử dụng như trước."
            ),
            retaliation_risk="LOW",
        ),
        None,
    ),
    # An identified denunciation: a social allowance paid out to the dead, with forged signatures.
    (
        _report(
            report_type="TO_CAO",
            misconduct=["EMBEZZLEMENT", "FORGERY", "RETALIATION"],
            sector="LABOUR",
            narrative=(
                "Dữ liệu mẫu: nhân vật và sự việc là hư cấu, người tố cáo cũng là nhân vật giả định. Tôi tố cáo ông "
                "Đỗ Văn Hư, công chức văn hóa – xã hội của xã, lập khống danh sách chi trả trợ cấp xã hội hằng "
                "tháng. Mẹ tôi hưởng trợ cấp người cao tuổi theo Quyết định số 1047/QĐ-UBND, mất ngày 11/01/2026, "
                "gia đình đã làm thủ tục khai tử ngày 15/01/2026. Tuy vậy, bảng kê chi trả từ tháng 2 đến tháng "
                "8/2026 vẫn có tên mẹ tôi với chữ ký nhận 500.000 đồng mỗi tháng, dù không ai trong gia đình ký. Xem "
                "bảng kê niêm yết tại nhà văn hóa thôn, tôi thấy ít nhất 8 người khác đã mất hoặc đã chuyển đi vẫn "
                "có tên. Số tiền bị chiếm đoạt ước khoảng 31.500.000 đồng trong 7 tháng. Ngày 10/9/2026 tôi hỏi "
                "trực tiếp thì ông Hư nói đó là “sai sót phần mềm” và yêu cầu tôi không nói ra ngoài; một tuần sau, "
                "con trai tôi, nhân viên hợp đồng của xã, bị chuyển sang việc khác."
            ),
            money_involved="Khoảng 31.500.000 đồng (9 người × 500.000 đồng × 7 tháng)",
            harm="Ngân sách trợ cấp xã hội bị chiếm đoạt; gia đình người tố cáo đã bị trù dập.",
            subject_name="Ông Đỗ Văn Hư (tên giả định)",
            subject_position="Công chức văn hóa – xã hội",
            subject_agency="Ủy ban nhân dân xã (dữ liệu mẫu)",
            subject_level="WARD",
            period="Tháng 2 đến tháng 8/2026",
            ongoing="YES",
            ward="00541",
            former_district="Huyện Gia Lâm",
            location="Nhà văn hóa thôn (giả định), xã Phù Đổng",
            evidence=(
                "Giấy chứng tử ngày 15/01/2026; ảnh chụp bảng kê chi trả tháng 2 đến tháng 8/2026 niêm yết tại nhà "
                "văn hóa thôn; danh sách 8 người đã mất hoặc chuyển đi do tôi lập cùng trưởng thôn."
            ),
            knowledge="VICTIM",
            witnesses="Trưởng thôn và gia đình của 8 người có tên trong bảng kê; có thể liên hệ qua tôi.",
            retaliation_risk="ALREADY",
            protection_requested=True,
        ),
        {
            "full_name": "Nguyễn Văn Dân (nhân vật giả định)",
            "address": "Thôn Mẫu, xã Phù Đổng, Hà Nội (địa chỉ giả định)",
            "id_number": "",
            "contact": "09xx xxx xxx (số điện thoại mẫu)",
            "consent_contact": True,
            "truthful": True,
        },
    ),
]


def seed(db: Database, intake: Intake) -> list[tuple[str, str]]:
    """File every demo report as a citizen would; (reference, receipt) pairs in filing order."""
    receipts = [file_report(db, intake, report, identity) for report, identity in DEMO_REPORTS]
    lookups = [lookup_id(intake.pepper, parse_receipt(receipt)) for receipt in receipts]
    with db.session() as session:
        rows = session.execute(select(Case.lookup_id, Case.reference).where(Case.lookup_id.in_(lookups))).all()
    references = {lookup: reference for lookup, reference in rows}
    return [(references[lookup], receipt) for lookup, receipt in zip(lookups, receipts, strict=True)]


@click.group("demo", cls=AppGroup, help="Demo data for trying the product.")
def demo_group() -> None:
    pass


@demo_group.command("seed", help="File a few fictional reports and print each one's reference and receipt.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, for scripts.")
@click.option("--force", is_flag=True, help="Seed even though the database already holds cases.")
def demo_seed(as_json: bool, force: bool) -> None:
    pepper = _pepper()
    db = get_db()
    if not inspect(db.engine).has_table(IntakeKey.__tablename__):
        raise click.ClickException("The database has no schema yet: run `flask --app wsgi:reviewer db upgrade` first.")
    with db.session() as session:
        public_key = session.scalars(
            select(IntakeKey.public_key).where(IntakeKey.active).order_by(IntakeKey.created_on.desc())
        ).first()
        existing = session.scalar(select(func.count()).select_from(Case)) or 0
    if public_key is None:
        raise click.ClickException("There is no active intake key: run `flask --app wsgi:reviewer keys init` first.")
    if existing and not force:
        raise click.ClickException(
            f"The database already holds {existing} case(s); demo reports are not mixed in. Use --force to add them anyway."
        )

    filed = seed(db, Intake(public_key, pepper))
    if as_json:
        click.echo(json.dumps([{"reference": reference, "receipt": receipt} for reference, receipt in filed]))
        return
    click.echo(f"Filed {len(filed)} demo reports. Check one's status in the citizen portal with its receipt:")
    for reference, receipt in filed:
        click.echo(f"    {reference}    {receipt}")


def _pepper() -> bytes:
    """The citizen portal's receipt pepper: without the same one, no printed receipt would open its case."""
    value = os.environ.get(PEPPER_VARIABLE, "").strip()
    if not value:
        raise click.ClickException(
            f"{PEPPER_VARIABLE} is not set: set it to the citizen portal's value, or the receipts printed "
            "would not open their reports there."
        )
    if len(value) < MIN_SECRET_LENGTH:
        raise click.ClickException(f"{PEPPER_VARIABLE} must be at least {MIN_SECRET_LENGTH} characters long.")
    return value.encode()
