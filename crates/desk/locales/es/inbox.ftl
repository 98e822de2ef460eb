# The inbox: filters, counts, pages, the emergency banner, and how
# dates and spans of time are written in this language.

month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre
date-time = { $day } de { $month } de { $year }, { $time } UTC
time-in = dentro de { $span }
time-ago = hace { $span }
span-minutes = { $n } min
span-hours = { $n } h
span-days = { $n } d
filters-label = Filtrar los casos
filter-show = Mostrar
show-open = Casos abiertos
show-overdue = Casos vencidos
show-finished = Casos terminados
show-all = Todos los casos
filter-any = Cualquiera
filter-counterpart-help = Código de dos letras, por ejemplo FR
filter-apply = Aplicar
counts-title = Casos abiertos por estado
counts-open = { $open } casos abiertos, { $overdue } vencidos
pages-label = Páginas
page-previous = Página anterior
page-next = Página siguiente
page-number = Página { $page }
inbox-overdue = vencido
alerts-emergencies = Solicitudes de emergencia pendientes de acuse de recibo: { $count }
