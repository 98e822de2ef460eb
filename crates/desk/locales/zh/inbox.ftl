# The inbox: filters, counts, pages, the emergency banner, and how
# dates and spans of time are written in this language.

month-1 = 1月
month-2 = 2月
month-3 = 3月
month-4 = 4月
month-5 = 5月
month-6 = 6月
month-7 = 7月
month-8 = 8月
month-9 = 9月
month-10 = 10月
month-11 = 11月
month-12 = 12月
date-time = { $year }年{ $month }{ $day }日 { $time } UTC
time-in = { $span }后
time-ago = { $span }前
span-minutes = { $n } 分钟
span-hours = { $n } 小时
span-days = { $n } 天
filters-label = 筛选案件
filter-show = 显示
show-open = 未结案件
show-overdue = 逾期案件
show-finished = 已结案件
show-all = 全部案件
filter-any = 任意
filter-counterpart-help = 两个字母的代码，例如 FR
filter-apply = 应用
counts-title = 按状态统计的未结案件
counts-open = 未结案件 { $open } 件，其中逾期 { $overdue } 件
pages-label = 分页
page-previous = 上一页
page-next = 下一页
page-number = 第 { $page } 页
inbox-overdue = 逾期
alerts-emergencies = 等待确认收到的紧急请求：{ $count }
